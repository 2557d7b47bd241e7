//! Where ACME account credentials persist between runs.

use std::path::PathBuf;

use async_trait::async_trait;

use super::error::AcmeError;

/// Loads and saves the account credentials (opaque JSON). A Secret-backed store is used in
/// cluster mode; [`FileAccountStore`] elsewhere.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// The saved credentials, or `None` when no account was created yet.
    async fn load(&self) -> Result<Option<String>, AcmeError>;
    /// Persist new credentials, replacing any previous ones.
    async fn save(&self, credentials_json: &str) -> Result<(), AcmeError>;
}

/// Credentials in one file, written atomically with owner-only permissions.
#[derive(Clone, Debug)]
pub struct FileAccountStore {
    path: PathBuf,
}

impl FileAccountStore {
    /// Store credentials at `path` (its directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl AccountStore for FileAccountStore {
    async fn load(&self) -> Result<Option<String>, AcmeError> {
        match tokio::fs::read_to_string(&self.path).await {
            Ok(json) => Ok(Some(json)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AcmeError::AccountStore(format!(
                "cannot read {}: {e}",
                self.path.display()
            ))),
        }
    }

    async fn save(&self, credentials_json: &str) -> Result<(), AcmeError> {
        let fail = |what: &str, e: std::io::Error| {
            AcmeError::AccountStore(format!("cannot {what} {}: {e}", self.path.display()))
        };
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        tokio::fs::write(&tmp, credentials_json)
            .await
            .map_err(|e| fail("write", e))?;
        #[cfg(unix)]
        {
            // The file holds the account's private key.
            use std::os::unix::fs::PermissionsExt;
            tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .await
                .map_err(|e| fail("set permissions on", e))?;
        }
        tokio::fs::rename(&tmp, &self.path)
            .await
            .map_err(|e| fail("replace", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_round_trip() {
        let dir = std::env::temp_dir().join(format!("gatehouse-acct-{}", std::process::id()));
        tokio::fs::create_dir_all(&dir).await.expect("mkdir");
        let store = FileAccountStore::new(dir.join("account.json"));
        assert_eq!(store.load().await.expect("load"), None);
        store.save("{\"a\":1}").await.expect("save");
        assert_eq!(
            store.load().await.expect("load").as_deref(),
            Some("{\"a\":1}")
        );
        store.save("{\"a\":2}").await.expect("save again");
        assert_eq!(
            store.load().await.expect("load").as_deref(),
            Some("{\"a\":2}")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("account.json"))
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let missing_dir = FileAccountStore::new(dir.join("nope").join("account.json"));
        assert!(matches!(
            missing_dir.save("{}").await,
            Err(AcmeError::AccountStore(_))
        ));
        tokio::fs::remove_dir_all(&dir).await.expect("cleanup");
    }
}
