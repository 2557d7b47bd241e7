//! Per-route HTTP basic authentication (`auth-type: basic`): the realm and the users with
//! their password hashes, as read from the Secret an Ingress names. Pure data: the controller
//! parses the htpasswd text into [`PasswordHash`]es (so a format gatehouse cannot verify
//! refuses the route at translation time), and the proxy verifies passwords against them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// One stored password hash, in a format `htpasswd` writes and gatehouse verifies.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PasswordHash {
    /// bcrypt (`$2y$`, `$2b$`, `$2a$`): the whole modular-crypt string.
    Bcrypt(Box<str>),
    /// Apache's MD5 (`$apr1$SALT$CHECKSUM`): the salt (at most 8 characters) and the
    /// 22-character checksum.
    Apr1 {
        /// The salt.
        salt: Box<str>,
        /// The checksum, in crypt's base-64 alphabet.
        checksum: Box<str>,
    },
    /// `{SHA}` followed by the base-64 SHA-1 digest of the password (unsalted), decoded.
    Sha1([u8; 20]),
}

impl fmt::Debug for PasswordHash {
    // Hashes are not printed: logs and the status page show only the format.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PasswordHash::Bcrypt(_) => "bcrypt",
            PasswordHash::Apr1 { .. } => "apr1",
            PasswordHash::Sha1(_) => "sha1",
        })
    }
}

/// Basic authentication of one route: who may use it, and the realm the challenge names.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BasicAuth {
    /// The `WWW-Authenticate: Basic realm="…"` realm (`auth-realm`).
    pub realm: Arc<str>,
    /// User name → password hash (never empty).
    pub users: Arc<BTreeMap<Box<str>, PasswordHash>>,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("realm", &self.realm)
            .field("users", &self.users.len())
            .finish()
    }
}

/// How the source lists and authentication combine (`satisfy`), as nginx's `satisfy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Satisfy {
    /// Every check the route has must pass (the default).
    #[default]
    All,
    /// One passing check suffices: a client the source lists admit needs no credentials, and
    /// valid credentials admit a client the lists would refuse.
    Any,
}
