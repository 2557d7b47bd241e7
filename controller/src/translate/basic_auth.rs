//! Basic authentication: the Secret an Ingress names (`auth-secret`) into the users and
//! password hashes of its routes. `auth-file` (the default) reads htpasswd lines from the
//! Secret's `auth` key; `auth-map` reads each key as a user and its value as the hash. Every
//! problem — no such Secret, no `auth` key, no users, a line that does not parse, a hash format
//! gatehouse cannot verify — is an error: the caller refuses the Ingress (503), never serves it
//! open.

use std::collections::BTreeMap;

use foldhash::HashMap;
use std::sync::Arc;

use base64::Engine;
use gatehouse_routes::{BasicAuth, PasswordHash};
use k8s_openapi::api::core::v1::Secret;

use crate::snapshot::namespace;

/// The Secret key that holds the htpasswd file (`auth-secret-type: auth-file`).
pub const AUTH_FILE_KEY: &str = "auth";

/// How the Secret holds the credentials (`auth-secret-type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthSecretType {
    /// The `auth` key holds htpasswd lines (`auth-file`, the default).
    #[default]
    File,
    /// Each key is a user and its value the password hash (`auth-map`).
    Map,
}

/// What an Ingress's basic-auth annotations ask for, before the Secret is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicAuthRequest {
    /// The annotation key that named the Secret (for warnings and the 503 reason).
    pub secret_key: String,
    /// The Secret's namespace (the Ingress's unless `auth-secret` is `NS/NAME`).
    pub namespace: String,
    /// The Secret's name.
    pub name: String,
    /// How the Secret holds the credentials.
    pub secret_type: AuthSecretType,
    /// The realm the challenge names.
    pub realm: Arc<str>,
}

/// The Secrets of a snapshot by namespace and name, for basic authentication and
/// `proxy-ssl-secret`.
pub struct AuthSecrets<'a> {
    secrets: HashMap<(&'a str, &'a str), &'a Secret>,
}

impl<'a> AuthSecrets<'a> {
    /// Indexes `secrets` by namespace and name.
    pub fn new(secrets: &'a [Arc<Secret>]) -> Self {
        Self {
            secrets: secrets
                .iter()
                .filter_map(|s| Some(((namespace(&s.metadata), s.metadata.name.as_deref()?), &**s)))
                .collect(),
        }
    }

    /// The Secret `ns/name`, if the snapshot has it.
    pub fn get(&self, ns: &str, name: &str) -> Option<&'a Secret> {
        self.secrets.get(&(ns, name)).copied()
    }

    /// The route-ready basic authentication for `request`, or why it cannot be given.
    pub fn resolve(&self, request: &BasicAuthRequest) -> Result<BasicAuth, String> {
        let (ns, name) = (request.namespace.as_str(), request.name.as_str());
        let secret = self
            .secrets
            .get(&(ns, name))
            .ok_or_else(|| format!("Secret {ns}/{name} not found"))?;
        let users = match request.secret_type {
            AuthSecretType::File => {
                let text = secret_value(secret, AUTH_FILE_KEY)
                    .ok_or_else(|| format!("Secret {ns}/{name} has no key {AUTH_FILE_KEY:?}"))?;
                let text = std::str::from_utf8(&text).map_err(|_| {
                    format!("Secret {ns}/{name}: key {AUTH_FILE_KEY:?} is not UTF-8")
                })?;
                parse_htpasswd(text).map_err(|e| format!("Secret {ns}/{name}: {e}"))?
            }
            AuthSecretType::Map => {
                parse_map(secret).map_err(|e| format!("Secret {ns}/{name}: {e}"))?
            }
        };
        Ok(BasicAuth {
            realm: request.realm.clone(),
            users: Arc::new(users),
        })
    }
}

/// The value of `key` in `data`, else in `stringData` (manifests may use either).
pub(crate) fn secret_value(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.0.clone());
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| v.as_bytes().to_vec())
}

/// Users from htpasswd text: `user:hash` per line (anything after a further `:` is a comment,
/// as nginx reads it); blank lines and lines starting with `#` are skipped. The first line for
/// a user wins, as nginx stops at the first match. No users is an error.
pub fn parse_htpasswd(text: &str) -> Result<BTreeMap<Box<str>, PasswordHash>, String> {
    let mut users = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let user = fields.next().unwrap_or_default();
        let Some(hash) = fields.next() else {
            return Err(format!("line {}: not user:hash", i + 1));
        };
        if user.is_empty() {
            return Err(format!("line {}: empty user name", i + 1));
        }
        let hash = parse_hash(hash).map_err(|e| format!("line {} (user {user:?}): {e}", i + 1))?;
        users.entry(user.into()).or_insert(hash);
    }
    if users.is_empty() {
        return Err(format!("key {AUTH_FILE_KEY:?} holds no users"));
    }
    Ok(users)
}

/// Users from an `auth-map` Secret: every key a user, its value the hash.
fn parse_map(secret: &Secret) -> Result<BTreeMap<Box<str>, PasswordHash>, String> {
    let mut entries: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for (k, v) in secret.string_data.iter().flatten() {
        entries.insert(k, v.as_bytes().to_vec());
    }
    // `data` wins over `stringData`, as the API server merges them.
    for (k, v) in secret.data.iter().flatten() {
        entries.insert(k, v.0.clone());
    }
    let mut users = BTreeMap::new();
    for (user, value) in entries {
        let value = std::str::from_utf8(&value)
            .map_err(|_| format!("the value of user {user:?} is not UTF-8"))?;
        let hash = parse_hash(value.trim()).map_err(|e| format!("user {user:?}: {e}"))?;
        users.insert(user.into(), hash);
    }
    if users.is_empty() {
        return Err("holds no users".to_string());
    }
    Ok(users)
}

/// The characters of crypt's base-64 alphabet (bcrypt and apr1 checksums and salts).
fn is_crypt64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'/'
}

/// One hash in a format gatehouse verifies: bcrypt, apr1 or `{SHA}`.
pub fn parse_hash(hash: &str) -> Result<PasswordHash, String> {
    const UNSUPPORTED: &str =
        "hash format not supported (gatehouse verifies bcrypt $2y$/$2b$/$2a$, $apr1$ and {SHA})";
    if let Some(rest) = ["$2y$", "$2b$", "$2a$"]
        .iter()
        .find_map(|p| hash.strip_prefix(p))
    {
        // $2y$NN$ + 22 characters of salt + 31 of checksum.
        let (cost, tail) = rest.split_at_checked(2).ok_or("malformed bcrypt hash")?;
        let cost: u32 = cost.parse().map_err(|_| "malformed bcrypt cost")?;
        let tail = tail.strip_prefix('$').ok_or("malformed bcrypt hash")?;
        if !(4..=31).contains(&cost) || tail.len() != 53 || !tail.bytes().all(is_crypt64) {
            return Err("malformed bcrypt hash".to_string());
        }
        return Ok(PasswordHash::Bcrypt(hash.into()));
    }
    if let Some(rest) = hash.strip_prefix("$apr1$") {
        let (salt, checksum) = rest.split_once('$').ok_or("malformed $apr1$ hash")?;
        if salt.is_empty()
            || salt.len() > 8
            || !salt.bytes().all(is_crypt64)
            || checksum.len() != 22
            || !checksum.bytes().all(is_crypt64)
        {
            return Err("malformed $apr1$ hash".to_string());
        }
        return Ok(PasswordHash::Apr1 {
            salt: salt.into(),
            checksum: checksum.into(),
        });
    }
    if let Some(digest) = hash.strip_prefix("{SHA}") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(digest)
            .map_err(|_| "malformed {SHA} hash")?;
        let digest: [u8; 20] = bytes
            .try_into()
            .map_err(|_| "malformed {SHA} hash (not 20 bytes)")?;
        return Ok(PasswordHash::Sha1(digest));
    }
    Err(UNSUPPORTED.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fixtures: see tests/fixtures/basic_auth/README.md (test-only passwords).
    const BCRYPT: &str = "$2y$05$abcdefghijklmnopqrstuu5Kq0TQnqQaGb3Qhq5ID7fYJwVqB0dAq";
    const APR1: &str = "$apr1$salt1234$abcdefghijklmnopqrstuv";
    const SHA: &str = "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=";

    #[test]
    fn hash_formats() {
        // (hash, accepted)
        let cases = [
            (BCRYPT, true),
            (
                "$2b$10$abcdefghijklmnopqrstuu5Kq0TQnqQaGb3Qhq5ID7fYJwVqB0dAq",
                true,
            ),
            (
                "$2a$10$abcdefghijklmnopqrstuu5Kq0TQnqQaGb3Qhq5ID7fYJwVqB0dAq",
                true,
            ),
            ("$2y$10$short", false),
            (
                "$2y$03$abcdefghijklmnopqrstuu5Kq0TQnqQaGb3Qhq5ID7fYJwVqB0dAq",
                false,
            ),
            (
                "$2x$10$abcdefghijklmnopqrstuu5Kq0TQnqQaGb3Qhq5ID7fYJwVqB0dAq",
                false,
            ),
            (APR1, true),
            ("$apr1$$abcdefghijklmnopqrstuv", false),
            ("$apr1$toolongsalt$abcdefghijklmnopqrstuv", false),
            ("$apr1$salt$short", false),
            (SHA, true),
            ("{SHA}notbase64!", false),
            ("{SHA}AAAA", false),
            ("$1$salt$abcdefghijklmnopqrstuv", false), // MD5-crypt
            ("$6$salt$hash", false),                   // SHA-512 crypt
            ("abJnggxhB/yWI", false),                  // DES crypt
            ("plaintext", false),
            ("", false),
        ];
        for (hash, ok) in cases {
            assert_eq!(parse_hash(hash).is_ok(), ok, "{hash}");
        }
        assert!(parse_hash("$6$x$y")
            .unwrap_err()
            .contains("hash format not supported"));
    }

    #[test]
    fn htpasswd_lines() {
        let text = format!(
            "# users\n\nalice:{BCRYPT}\nbob:{APR1}:a comment\r\ncarol:{SHA}\nalice:{SHA}\n"
        );
        let users = parse_htpasswd(&text).expect("parses");
        assert_eq!(users.len(), 3);
        assert!(
            matches!(users.get("alice"), Some(PasswordHash::Bcrypt(_))),
            "first line wins"
        );
        assert!(matches!(users.get("bob"), Some(PasswordHash::Apr1 { .. })));
        assert!(matches!(users.get("carol"), Some(PasswordHash::Sha1(_))));
        // (text, error contains)
        let bad = [
            ("", "no users"),
            ("# only a comment\n\n", "no users"),
            ("alice\n", "line 1: not user:hash"),
            (":{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n", "empty user name"),
            (
                "alice:$6$salt$hash\n",
                "line 1 (user \"alice\"): hash format not supported",
            ),
        ];
        for (text, want) in bad {
            let err = parse_htpasswd(text).expect_err(text);
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
