//! A Pebble ACME test CA on loopback, with pebble-challtestsrv as its DNS so every name
//! resolves to 127.0.0.1 (HTTP-01 validation then reaches a responder on `http01_port`).
//!
//! Needs `/usr/bin/pebble` and `/usr/bin/pebble-challtestsrv` (Debian package `pebble`).

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::tlsgen::{LeafSpec, TestCa};
use crate::tools::{find_tool, missing_message, require_tool};

const PEBBLE: &str = "/usr/bin/pebble";
const CHALLTESTSRV: &str = "/usr/bin/pebble-challtestsrv";
/// How long Pebble may take to answer its directory after start.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running Pebble (and its DNS helper); both are killed on drop.
pub struct Pebble {
    pebble: Child,
    dns: Child,
    dir: tempfile::TempDir,
    acme_port: u16,
    management_port: u16,
    http01_port: u16,
    ca_pem: String,
}

impl Pebble {
    /// Whether the Pebble binaries are installed: `Ok(false)` means skip the test (said on
    /// stderr), and under CI a missing binary is an error naming the package
    /// ([`crate::tools::require_tool`]). Call it first thing in a test that starts Pebble.
    pub fn require() -> Result<bool> {
        for binary in [PEBBLE, CHALLTESTSRV] {
            if require_tool(binary, "pebble")?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Start Pebble validating HTTP-01 on `127.0.0.1:<http01_port>` (for every name) and wait
    /// until its directory answers. Pebble and its DNS server must be told their ports before
    /// they bind them, so another process can take a chosen port in between: such a start is
    /// retried with new ports (a bounded number of times).
    pub async fn start(http01_port: u16) -> Result<Self> {
        const ATTEMPTS: usize = 3;
        let mut attempt = 1;
        loop {
            match Self::start_once(http01_port).await {
                Err(e)
                    if attempt < ATTEMPTS
                        && format!("{e:#}").contains("address already in use") =>
                {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn start_once(http01_port: u16) -> Result<Self> {
        for binary in [PEBBLE, CHALLTESTSRV] {
            if find_tool(binary).is_none() {
                bail!("{}", missing_message(binary, "pebble"));
            }
        }
        let dir = tempfile::tempdir().context("pebble tempdir")?;
        let ca = TestCa::new("gatehouse pebble test CA")?;
        let server = ca.leaf_with(&LeafSpec::new(&["localhost"]).ips(&["127.0.0.1"]))?;
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.cert_pem()).context("write ca.pem")?;
        std::fs::write(dir.path().join("cert.pem"), &server.chain_pem).context("write cert")?;
        std::fs::write(dir.path().join("key.pem"), &server.key_pem).context("write key")?;

        let dns_port = free_tcp_udp_port()?;
        let dns_mgmt_port = free_tcp_port()?;
        let acme_port = free_tcp_port()?;
        let management_port = free_tcp_port()?;
        let tls_port = free_tcp_port()?;
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{acme_port}"),
                "managementListenAddress": format!("127.0.0.1:{management_port}"),
                "certificate": dir.path().join("cert.pem"),
                "privateKey": dir.path().join("key.pem"),
                "httpPort": http01_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        let config_file = dir.path().join("pebble-config.json");
        std::fs::write(&config_file, serde_json::to_vec_pretty(&config)?)
            .context("write pebble config")?;

        // Answers A queries for any name with 127.0.0.1 and no AAAA, so validation stays on
        // IPv4 loopback; its own challenge servers are disabled.
        let dns = Command::new(CHALLTESTSRV)
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-management", &format!("127.0.0.1:{dns_mgmt_port}")])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .stdout(log_file(dir.path(), "challtestsrv.log")?)
            .stderr(log_file(dir.path(), "challtestsrv.err")?)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("spawn {CHALLTESTSRV}"))?;
        let pebble = Command::new(PEBBLE)
            .arg("-config")
            .arg(&config_file)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env_remove("PEBBLE_VA_ALWAYS_VALID")
            .stdout(log_file(dir.path(), "pebble.log")?)
            .stderr(log_file(dir.path(), "pebble.err")?)
            .stdin(Stdio::null())
            .spawn();
        let pebble = match pebble {
            Ok(child) => child,
            Err(e) => {
                let mut dns = dns;
                let _ = dns.kill();
                let _ = dns.wait();
                return Err(e).with_context(|| format!("spawn {PEBBLE}"));
            }
        };
        let mut me = Self {
            pebble,
            dns,
            dir,
            acme_port,
            management_port,
            http01_port,
            ca_pem: ca.cert_pem().to_owned(),
        };
        me.wait_ready().await?;
        Ok(me)
    }

    /// The ACME directory URL.
    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    /// PEM file of the CA that signed Pebble's own HTTPS certificate (pass as extra roots).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The port Pebble connects to for HTTP-01 validation.
    pub fn http01_port(&self) -> u16 {
        self.http01_port
    }

    /// The root that issued certificates chain to (fresh per Pebble run), PEM.
    pub async fn issuing_roots_pem(&self) -> Result<String> {
        self.management_get("/roots/0").await
    }

    /// The intermediate that signs issued certificates, PEM.
    pub async fn intermediates_pem(&self) -> Result<String> {
        self.management_get("/intermediates/0").await
    }

    /// Pebble's and the DNS helper's output so far, for failure messages.
    pub fn logs(&self) -> String {
        [
            "pebble.log",
            "pebble.err",
            "challtestsrv.log",
            "challtestsrv.err",
        ]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            format!("--- {name}\n{text}")
        })
        .collect()
    }

    fn client(&self) -> Result<reqwest::Client> {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).context("CA for client")?;
        reqwest::Client::builder()
            .add_root_certificate(ca)
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .context("build HTTPS client")
    }

    async fn management_get(&self, path: &str) -> Result<String> {
        let url = format!("https://127.0.0.1:{}{path}", self.management_port);
        let rsp = self
            .client()?
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = rsp.status();
        let body = rsp.text().await.with_context(|| format!("read {url}"))?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {body}");
        }
        Ok(body)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let client = self.client()?;
        let url = self.directory_url();
        let started = Instant::now();
        for _ in 0..200 {
            if let Some(status) = self.pebble.try_wait().context("poll pebble")? {
                bail!("pebble exited early ({status})\n{}", self.logs());
            }
            if let Some(status) = self.dns.try_wait().context("poll challtestsrv")? {
                bail!(
                    "pebble-challtestsrv exited early ({status})\n{}",
                    self.logs()
                );
            }
            if let Ok(rsp) = client.get(&url).send().await {
                if rsp.status().is_success() {
                    return Ok(());
                }
            }
            if started.elapsed() > START_TIMEOUT {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "pebble directory {url} not answering after {START_TIMEOUT:?}\n{}",
            self.logs()
        )
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in [&mut self.pebble, &mut self.dns] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn log_file(dir: &Path, name: &str) -> Result<std::fs::File> {
    std::fs::File::create(dir.join(name)).with_context(|| format!("create {name}"))
}

fn free_tcp_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A port free for both TCP and UDP (the DNS helper listens on both).
fn free_tcp_udp_port() -> Result<u16> {
    for _ in 0..50 {
        let port = free_tcp_port()?;
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no port free for both TCP and UDP on 127.0.0.1 after 50 tries")
}
