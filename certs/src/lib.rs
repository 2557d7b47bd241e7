//! gatehouse certificates: TLS Secrets parsing, the SNI certificate set and resolver, the
//! self-signed default certificate, and ACME issuance (HTTP-01) with renewal timing.
#![forbid(unsafe_code)]

pub mod acme;
pub mod cert_set;
pub mod challenge;
pub mod default_cert;
pub mod error;
pub mod renewal;
pub mod resolver;
pub mod tls_secret;

pub use cert_set::{CertInfo, CertSet, CertSetBuilder};
pub use challenge::{ChallengeStore, MemoryChallenges};
pub use error::CertError;
pub use resolver::CertResolver;
pub use tls_secret::{parse_ca_bundle, parse_client_pair, parse_tls_pair, ClientPair, LoadedCert};

/// The crypto provider every TLS object in this crate is built with (ring, per workspace policy).
pub fn crypto_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
