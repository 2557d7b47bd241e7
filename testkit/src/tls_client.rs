//! TLS clients for tests: rustls configs that accept any server certificate (so a test can look
//! at which one was served) or verify it against given roots, a bounded handshake, the leaf
//! certificate the server presented, and the DER inside a PEM bundle.
//!
//! The crypto provider is rustls' ring provider, as in gatehouse itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedProtocolVersion,
};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The server name sent (without the SNI extension) when a handshake has no SNI.
const NO_SNI_NAME: &str = "no-sni.invalid";

/// The crypto provider of test clients: ring, as gatehouse uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any server certificate (tests inspect it afterwards) but checks the handshake
/// signatures for real, so the server must hold the key of the certificate it presented.
#[derive(Debug)]
pub struct AcceptAnyCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AcceptAnyCert {
    /// Checks signatures with `provider`'s algorithms.
    pub fn new(provider: &CryptoProvider) -> Self {
        Self {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client config offering `versions` that accepts any server certificate (still checking
/// handshake signatures).
pub fn inspecting_config(
    versions: &[&'static SupportedProtocolVersion],
) -> anyhow::Result<ClientConfig> {
    let provider = provider();
    let verifier = Arc::new(AcceptAnyCert::new(&provider));
    Ok(ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .context("protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// A root store holding every certificate in `roots_pem`.
pub fn root_store(roots_pem: &str) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for der in pem_certs_der(roots_pem)? {
        roots.add(CertificateDer::from(der)).context("add root")?;
    }
    Ok(roots)
}

/// A client config that fully verifies the server against the certificates in `roots_pem`.
pub fn verifying_config(roots_pem: &str) -> anyhow::Result<ClientConfig> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("protocol versions")?
        .with_root_certificates(root_store(roots_pem)?)
        .with_no_client_auth())
}

/// Connects to `addr` and completes a TLS handshake with `config`, sending `sni` (`None`
/// sends no server_name extension); each of connect and handshake is bounded by `timeout`.
pub async fn handshake(
    addr: SocketAddr,
    config: ClientConfig,
    sni: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<TlsStream<TcpStream>> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow!("connect {addr}: timed out"))?
        .with_context(|| format!("connect {addr}"))?;
    handshake_over(tcp, config, sni, timeout).await
}

/// Completes a TLS handshake with `config` on a connection already open (and perhaps already
/// written to, as with a PROXY protocol header), sending `sni` as [`handshake`] does.
pub async fn handshake_over(
    tcp: TcpStream,
    mut config: ClientConfig,
    sni: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<TlsStream<TcpStream>> {
    if sni.is_none() {
        config.enable_sni = false;
    }
    let name = sni.unwrap_or(NO_SNI_NAME).to_owned();
    let server_name =
        ServerName::try_from(name.clone()).with_context(|| format!("server name {name}"))?;
    let connector = TlsConnector::from(Arc::new(config));
    let addr = tcp.peer_addr().context("peer address")?;
    tokio::time::timeout(timeout, connector.connect(server_name, tcp))
        .await
        .map_err(|_| anyhow!("TLS handshake with {addr}: timed out"))?
        .with_context(|| format!("TLS handshake with {addr}"))
}

/// The leaf certificate the server presented on `stream`.
pub fn peer_leaf(stream: &TlsStream<TcpStream>) -> anyhow::Result<CertificateDer<'static>> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|der| der.clone().into_owned())
        .ok_or_else(|| anyhow!("server presented no certificate"))
}

/// The DER of every CERTIFICATE block in `pem`, in order.
pub fn pem_certs_der(pem: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|der| Ok(der.context("reading a CERTIFICATE block")?.to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlsgen::TestCa;

    #[test]
    fn pem_certs_der_reads_every_block_in_order() -> anyhow::Result<()> {
        let ca = TestCa::new("test ca")?;
        let leaf = ca.leaf(&["a.test"])?;
        let chain = pem_certs_der(&leaf.chain_pem)?;
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0], pem_certs_der(&leaf.cert_pem)?[0]);
        assert_eq!(chain[1], pem_certs_der(ca.cert_pem())?[0]);
        assert!(pem_certs_der("no pem here")?.is_empty());
        Ok(())
    }

    #[test]
    fn configs_build() -> anyhow::Result<()> {
        let ca = TestCa::new("test ca")?;
        verifying_config(ca.cert_pem())?;
        let config = inspecting_config(&[&rustls::version::TLS12])?;
        assert!(config.enable_sni);
        Ok(())
    }
}
