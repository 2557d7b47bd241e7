//! Named ACME directories.

use instant_acme::LetsEncrypt;

/// Shortcut for Let's Encrypt production.
pub const LETSENCRYPT: &str = "letsencrypt";
/// Shortcut for Let's Encrypt staging.
pub const LETSENCRYPT_STAGING: &str = "letsencrypt-staging";

/// The directory URL for a shortcut name, or the input unchanged when it is already a URL.
pub fn directory_url(name_or_url: &str) -> &str {
    match name_or_url {
        LETSENCRYPT => LetsEncrypt::Production.url(),
        LETSENCRYPT_STAGING => LetsEncrypt::Staging.url(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_and_passthrough() {
        assert_eq!(
            directory_url("letsencrypt"),
            "https://acme-v02.api.letsencrypt.org/directory"
        );
        assert_eq!(
            directory_url("letsencrypt-staging"),
            "https://acme-staging-v02.api.letsencrypt.org/directory"
        );
        assert_eq!(
            directory_url("https://127.0.0.1:14000/dir"),
            "https://127.0.0.1:14000/dir"
        );
    }
}
