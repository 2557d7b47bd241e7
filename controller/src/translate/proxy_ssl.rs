//! `proxy-ssl-secret`: the Secret an Ingress names (`NAMESPACE/NAME`) into the CAs its TLS
//! backends are verified against (`ca.crt`, with `proxy-ssl-verify: on`) and the client
//! certificate presented to them (`tls.crt` + `tls.key`), as ingress-nginx reads it. Every
//! problem — no such Secret, neither part present, half a key pair, PEM that does not parse,
//! a key that does not belong to the certificate — is an error: the caller refuses the
//! Ingress (503), never connects with weaker TLS than asked for.

use std::sync::Arc;

use gatehouse_routes::{ClientCert, UpstreamCa};

use super::basic_auth::{secret_value, AuthSecrets};

/// The Secret key with the client certificate chain (PEM, leaf first).
pub const CERT_KEY: &str = "tls.crt";
/// The Secret key with the client certificate's private key (PEM).
pub const KEY_KEY: &str = "tls.key";
/// The Secret key with the CA certificates backends are verified against (PEM).
pub const CA_KEY: &str = "ca.crt";

/// What an Ingress's `proxy-ssl-secret` asks for, before the Secret is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxySslRequest {
    /// The annotation key that named the Secret (for warnings and the 503 reason).
    pub secret_key: String,
    /// The Secret's namespace (always given in the value; it may differ from the Ingress's).
    pub namespace: String,
    /// The Secret's name.
    pub name: String,
}

/// What the Secret gives the routes' `UpstreamTls`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxySsl {
    /// The CAs from `ca.crt`, if the Secret has them.
    pub ca: Option<Arc<UpstreamCa>>,
    /// The client certificate from `tls.crt` and `tls.key`, if the Secret has them.
    pub client_cert: Option<Arc<ClientCert>>,
}

/// The CAs and client certificate of `request`'s Secret, or why they cannot be used. An empty
/// value counts as absent (cert-manager writes an empty `ca.crt` for some issuers).
pub fn resolve(secrets: &AuthSecrets<'_>, request: &ProxySslRequest) -> Result<ProxySsl, String> {
    let (ns, name) = (request.namespace.as_str(), request.name.as_str());
    let secret = secrets
        .get(ns, name)
        .ok_or_else(|| format!("Secret {ns}/{name} not found"))?;
    let value = |key: &str| secret_value(secret, key).filter(|v| !v.is_empty());
    let client_cert = match (value(CERT_KEY), value(KEY_KEY)) {
        (Some(chain), Some(key)) => {
            let (chain, key) = gatehouse_certs::parse_client_pair(&chain, &key)
                .map_err(|e| format!("Secret {ns}/{name}: {CERT_KEY}/{KEY_KEY}: {e}"))?;
            Some(Arc::new(ClientCert::new(
                chain.iter().map(|c| c.to_vec()).collect(),
                key.secret_der().to_vec(),
            )))
        }
        (Some(_), None) => {
            return Err(format!(
                "Secret {ns}/{name} has {CERT_KEY} but no {KEY_KEY}"
            ))
        }
        (None, Some(_)) => {
            return Err(format!(
                "Secret {ns}/{name} has {KEY_KEY} but no {CERT_KEY}"
            ))
        }
        (None, None) => None,
    };
    let ca = match value(CA_KEY) {
        Some(pem) => {
            let certs = gatehouse_certs::parse_ca_bundle(&pem)
                .map_err(|e| format!("Secret {ns}/{name}: {CA_KEY}: {e}"))?;
            Some(Arc::new(UpstreamCa::new(
                certs.iter().map(|c| c.to_vec()).collect(),
            )))
        }
        None => None,
    };
    if ca.is_none() && client_cert.is_none() {
        return Err(format!(
            "Secret {ns}/{name} has neither {CERT_KEY} and {KEY_KEY} nor {CA_KEY}"
        ));
    }
    Ok(ProxySsl { ca, client_cert })
}
