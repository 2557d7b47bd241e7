//! rustls certificate resolver reading the current [`CertSet`] per handshake.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::cert_set::CertSet;

/// Picks the certificate for each TLS handshake from a hot-swappable [`CertSet`]; storing a
/// new set affects the next handshake, no restart needed.
#[derive(Debug, Clone)]
pub struct CertResolver {
    certs: Arc<ArcSwap<CertSet>>,
}

impl CertResolver {
    /// Resolve from `certs`; whoever holds the same `Arc` swaps new sets in.
    pub fn new(certs: Arc<ArcSwap<CertSet>>) -> Self {
        Self { certs }
    }

    /// The shared, swappable set this resolver reads.
    pub fn certs(&self) -> &Arc<ArcSwap<CertSet>> {
        &self.certs
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let found = self.certs.load().lookup(hello.server_name()).cloned();
        if found.is_none() {
            tracing::debug!(sni = ?hello.server_name(), "no certificate for TLS handshake");
        }
        found
    }
}
