//! ACME (RFC 8555) issuance with HTTP-01, on instant-acme.
//!
//! The leader runs an [`Issuer`]; answers go to a [`ChallengeStore`] the proxy serves from;
//! issued certificates are written back as Secrets by the caller.

mod account;
mod account_store;
mod backoff;
mod directory;
mod error;
mod http_client;
mod issuer;
mod renewal_info;

pub use crate::challenge::{ChallengeStore, MemoryChallenges};
pub use account_store::{AccountStore, FileAccountStore};
pub use backoff::Backoff;
pub use directory::{directory_url, LETSENCRYPT, LETSENCRYPT_STAGING};
pub use error::{AcmeError, AcmeErrorKind};
pub use issuer::{IssuedCert, Issuer};
pub use renewal_info::RenewalWindow;
