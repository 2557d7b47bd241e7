//! Errors of the test server's handle API.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Failures of [`crate::TestApiServer`] operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listener could not bind.
    #[error("binding the test API server to {addr}: {source} (is another server using the port?)")]
    Bind {
        /// Address we tried.
        addr: SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The kubeconfig could not be written.
    #[error("writing kubeconfig to {path}: {source}")]
    WriteKubeconfig {
        /// Target file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The object's apiVersion/kind is not one the server serves.
    #[error("apiVersion {api_version:?} kind {kind:?} is not served by the test API server (see resources::RESOURCES)")]
    UnknownKind {
        /// apiVersion found on the object.
        api_version: String,
        /// kind found on the object.
        kind: String,
    },
    /// The store rejected the object like the API server would.
    #[error("object rejected ({code}): {message}")]
    Rejected {
        /// HTTP code the API would answer.
        code: u16,
        /// Status message.
        message: String,
    },
}

impl From<crate::status::ApiError> for Error {
    fn from(e: crate::status::ApiError) -> Self {
        Self::Rejected {
            code: e.code,
            message: e.message,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
