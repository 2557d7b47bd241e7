//! Helpers shared by the black-box TLS tests: HTTPS instances, Ingresses with `spec.tls` and
//! annotations, Secrets in `data` form, and a rustls probe client that reports which
//! certificate, ALPN protocol and TLS version a handshake produced.
//!
//! The handshake, the certificate checks and PEM reading are `gatehouse_testkit::tls_client`'s;
//! rustls and tokio-rustls types are named through `pingora::tls` (a dependency of the binary,
//! the same crates testkit uses) so the root manifest needs no new dev-dependencies.

// Each test binary compiles this module and uses a different subset of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use gatehouse_testkit::base64;
use gatehouse_testkit::tls_client;
pub use gatehouse_testkit::tls_client::pem_certs_der;
use gatehouse_testkit::tlsgen::Leaf;
use gatehouse_testkit::{free_addr, InstanceSpec, Reply};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pingora::tls::{version, ClientConfig, ClientTlsStream};
use serde_json::{json, Value};
use tokio::net::TcpStream;

/// Namespace of every test object.
pub const NS: &str = "default";
/// Bound on one connect, handshake or request, so a hung listener cannot hang a test.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// Subject CN of the certificate gatehouse generates when no default is configured.
pub const BUILT_IN_DEFAULT_CN: &str = "gatehouse default certificate";

/// The gatehouse binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// An instance with an HTTP and an HTTPS listener on free ports of `ip`.
pub fn https_instance(class: &str, ip: &str) -> InstanceSpec {
    InstanceSpec {
        class: class.to_string(),
        http: free_addr(ip),
        https: Some(free_addr(ip)),
        default: false,
        settings: Vec::new(),
    }
}

/// The HTTPS listener of `instance` (panics when it has none: test setup error).
pub fn https_of(instance: &InstanceSpec) -> SocketAddr {
    instance
        .https
        .unwrap_or_else(|| panic!("instance {} has no https listener", instance.class))
}

/// Adds `spec.tls` entries (`(hosts, secretName)`) and `metadata.annotations` to an Ingress
/// rendered by the testkit builder.
pub fn with_tls(
    ingress_yaml: &str,
    tls: &[(&[&str], &str)],
    annotations: &[(&str, &str)],
) -> anyhow::Result<String> {
    let mut doc: Value = serde_yaml::from_str(ingress_yaml).context("parse Ingress YAML")?;
    if !tls.is_empty() {
        let entries: Vec<Value> = tls
            .iter()
            .map(|(hosts, secret)| json!({ "hosts": hosts, "secretName": secret }))
            .collect();
        let spec = doc
            .get_mut("spec")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| anyhow!("Ingress has no spec"))?;
        spec.insert("tls".into(), Value::Array(entries));
    }
    if !annotations.is_empty() {
        let metadata = doc
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| anyhow!("Ingress has no metadata"))?;
        let existing = metadata
            .entry("annotations")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| anyhow!("annotations is not a map"))?;
        for (key, value) in annotations {
            existing.insert((*key).to_string(), json!(value));
        }
    }
    Ok(gatehouse_testkit::yaml::to_yaml(&doc))
}

/// A Secret of type `secret_type` whose `data` holds base64 `tls.crt` / `tls.key`.
pub fn secret_with_data(
    namespace: &str,
    name: &str,
    secret_type: &str,
    cert_pem: &str,
    key_pem: &str,
) -> String {
    gatehouse_testkit::yaml::to_yaml(&json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "namespace": namespace },
        "type": secret_type,
        "data": {
            "tls.crt": base64::encode(cert_pem.as_bytes()),
            "tls.key": base64::encode(key_pem.as_bytes()),
        },
    }))
}

/// The DER of a generated leaf certificate.
pub fn leaf_der(leaf: &Leaf) -> anyhow::Result<Vec<u8>> {
    pem_certs_der(&leaf.cert_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("leaf PEM holds no certificate"))
}

/// True when `needle` occurs in `der` (subject and SAN strings are stored verbatim in DER).
pub fn der_mentions(der: &[u8], needle: &str) -> bool {
    der.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Which TLS versions a probe offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versions {
    /// TLS 1.2 and 1.3.
    Both,
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// What a probe handshake offers.
#[derive(Clone, Debug)]
pub struct Probe {
    /// SNI to send; `None` sends no server_name extension.
    pub sni: Option<String>,
    /// ALPN protocols offered, in order.
    pub alpn: Vec<Vec<u8>>,
    /// Protocol versions offered.
    pub versions: Versions,
}

impl Probe {
    /// A probe sending `sni`, offering h2 and http/1.1 and both TLS versions.
    pub fn sni(sni: &str) -> Probe {
        Probe {
            sni: Some(sni.to_string()),
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            versions: Versions::Both,
        }
    }

    /// A probe without SNI.
    pub fn no_sni() -> Probe {
        Probe {
            sni: None,
            ..Probe::sni("unused.invalid")
        }
    }

    /// Offer exactly these ALPN protocols.
    pub fn alpn(mut self, protocols: &[&[u8]]) -> Probe {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// Offer only these versions.
    pub fn versions(mut self, versions: Versions) -> Probe {
        self.versions = versions;
        self
    }
}

/// A rustls client config for `probe`: any server certificate is accepted (the tests look at
/// it afterwards), handshake signatures are checked.
fn probe_config(probe: &Probe) -> anyhow::Result<ClientConfig> {
    let versions = match probe.versions {
        Versions::Both => vec![&version::TLS13, &version::TLS12],
        Versions::Tls12 => vec![&version::TLS12],
        Versions::Tls13 => vec![&version::TLS13],
    };
    let mut config = tls_client::inspecting_config(&versions)?;
    config.alpn_protocols = probe.alpn.clone();
    config.enable_sni = probe.sni.is_some();
    Ok(config)
}

/// An established client TLS connection to gatehouse.
pub struct TlsConn {
    stream: ClientTlsStream<TcpStream>,
}

impl TlsConn {
    /// Connects to `addr` and completes the handshake `probe` describes.
    pub async fn connect(addr: SocketAddr, probe: &Probe) -> anyhow::Result<TlsConn> {
        let stream =
            tls_client::handshake(addr, probe_config(probe)?, probe.sni.as_deref(), IO_TIMEOUT)
                .await
                .with_context(|| format!("probe {probe:?}"))?;
        Ok(TlsConn { stream })
    }

    /// DER of the leaf certificate the server presented.
    pub fn leaf_der(&self) -> anyhow::Result<Vec<u8>> {
        Ok(tls_client::peer_leaf(&self.stream)?.to_vec())
    }

    /// The ALPN protocol the server chose, if any.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
    }

    /// True when TLS 1.2 was negotiated.
    pub fn is_tls12(&self) -> bool {
        self.stream.get_ref().1.protocol_version() == Some(version::TLS12.version)
    }

    /// True when TLS 1.3 was negotiated.
    pub fn is_tls13(&self) -> bool {
        self.stream.get_ref().1.protocol_version() == Some(version::TLS13.version)
    }

    /// Starts HTTP/1.1 on this connection (keep-alive: the sender can be reused).
    pub async fn http1(self) -> anyhow::Result<Http1> {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(self.stream))
            .await
            .context("HTTP/1.1 handshake over TLS")?;
        tokio::spawn(conn);
        Ok(Http1 { sender })
    }

    /// Starts HTTP/2 on this connection.
    pub async fn http2(self) -> anyhow::Result<Http2> {
        let (sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(self.stream))
                .await
                .context("HTTP/2 handshake over TLS")?;
        tokio::spawn(conn);
        Ok(Http2 { sender })
    }
}

/// An HTTP/1.1 connection over TLS.
pub struct Http1 {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl Http1 {
    /// GET `path` with Host `host`; reads the whole response.
    pub async fn get(&mut self, host: &str, path: &str) -> anyhow::Result<Reply> {
        tokio::time::timeout(IO_TIMEOUT, self.sender.ready())
            .await
            .map_err(|_| anyhow!("HTTP/1.1 connection not ready in time"))?
            .context("HTTP/1.1 connection closed")?;
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, host)
            .body(Empty::<Bytes>::new())
            .context("build request")?;
        let response = tokio::time::timeout(IO_TIMEOUT, self.sender.send_request(request))
            .await
            .map_err(|_| anyhow!("GET {host}{path}: timed out"))?
            .with_context(|| format!("GET {host}{path} over TLS"))?;
        read_reply(response).await
    }
}

/// An HTTP/2 connection over TLS.
pub struct Http2 {
    sender: hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
}

impl Http2 {
    /// GET `https://{authority}{path}`; returns the response version too.
    pub async fn get(
        &mut self,
        authority: &str,
        path: &str,
    ) -> anyhow::Result<(hyper::Version, Reply)> {
        tokio::time::timeout(IO_TIMEOUT, self.sender.ready())
            .await
            .map_err(|_| anyhow!("HTTP/2 connection not ready in time"))?
            .context("HTTP/2 connection closed")?;
        let request = hyper::Request::get(format!("https://{authority}{path}"))
            .body(Empty::<Bytes>::new())
            .context("build request")?;
        let response = tokio::time::timeout(IO_TIMEOUT, self.sender.send_request(request))
            .await
            .map_err(|_| anyhow!("h2 GET {authority}{path}: timed out"))?
            .with_context(|| format!("h2 GET {authority}{path}"))?;
        let version = response.version();
        Ok((version, read_reply(response).await?))
    }
}

async fn read_reply(response: hyper::Response<hyper::body::Incoming>) -> anyhow::Result<Reply> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = tokio::time::timeout(IO_TIMEOUT, response.into_body().collect())
        .await
        .map_err(|_| anyhow!("reading body timed out"))?
        .context("read body")?
        .to_bytes();
    Ok(Reply::from_parts(status, headers, &body))
}

/// The leaf certificate served for `probe` on `addr`.
pub async fn served_leaf(addr: SocketAddr, probe: &Probe) -> anyhow::Result<Vec<u8>> {
    TlsConn::connect(addr, probe).await?.leaf_der()
}

/// One HTTPS GET over a fresh probe connection (HTTP/1.1, any certificate accepted).
pub async fn probe_get(
    addr: SocketAddr,
    sni: &str,
    path: &str,
) -> anyhow::Result<(Vec<u8>, Reply)> {
    let conn = TlsConn::connect(addr, &Probe::sni(sni).alpn(&[b"http/1.1"])).await?;
    let leaf = conn.leaf_der()?;
    let reply = conn.http1().await?.get(sni, path).await?;
    Ok((leaf, reply))
}

/// A reqwest client that trusts only `ca_pem`, resolves `hosts` to `addr`, does not follow
/// redirects and records the peer certificate.
pub fn verified_client(
    ca_pem: &str,
    hosts: &[&str],
    addr: SocketAddr,
) -> anyhow::Result<reqwest::Client> {
    let mut builder = gatehouse_testkit::client::client_builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes())?)
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true);
    for host in hosts {
        builder = builder.resolve(host, addr);
    }
    Ok(builder.build()?)
}

/// A plain-HTTP client that never follows redirects (a followed redirect would leave
/// loopback for the Location's host).
pub fn no_redirect_client() -> anyhow::Result<reqwest::Client> {
    Ok(gatehouse_testkit::client::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// Plain-HTTP GET `http://{addr}{path_and_query}` with Host `host`, without following redirects.
pub async fn http_get(
    client: &reqwest::Client,
    addr: SocketAddr,
    host: &str,
    path_and_query: &str,
) -> anyhow::Result<Reply> {
    gatehouse_testkit::get(client, addr, host, path_and_query).await
}

/// A header value as text, for assertions.
pub fn header(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Fails unless `stderr` has a line naming `object` (e.g. "Ingress default/web") that also
/// contains every one of `words`.
pub fn assert_warning(stderr: &str, object: &str, words: &[&str]) -> anyhow::Result<()> {
    let found = stderr
        .lines()
        .any(|line| line.contains(object) && words.iter().all(|w| line.contains(w)));
    if !found {
        bail!("no stderr line names {object:?} with {words:?}; stderr:\n{stderr}");
    }
    Ok(())
}
