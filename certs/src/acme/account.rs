//! The ACME account an issuer uses: restored from the [`AccountStore`] or created on first use.

use std::sync::Arc;

use instant_acme::{Account, AccountBuilder, AccountCredentials, NewAccount};
use rustls::RootCertStore;
use serde::{Deserialize, Serialize};

use super::account_store::AccountStore;
use super::error::AcmeError;
use super::http_client::client_with_roots;

/// What the account store holds: the credentials and the directory they belong to, so a
/// changed directory setting makes a new account instead of reusing a foreign one.
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory_url: String,
    credentials: AccountCredentials,
}

/// Hands out the (cached) account for one directory.
pub(crate) struct AccountSource {
    directory_url: String,
    contact: Option<String>,
    roots: Option<RootCertStore>,
    store: Arc<dyn AccountStore>,
    cached: tokio::sync::Mutex<Option<Account>>,
}

impl AccountSource {
    pub(crate) fn new(
        directory_url: String,
        contact: Option<String>,
        roots: Option<RootCertStore>,
        store: Arc<dyn AccountStore>,
    ) -> Self {
        Self {
            directory_url,
            contact,
            roots,
            store,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) fn directory_url(&self) -> &str {
        &self.directory_url
    }

    pub(crate) fn contact(&self) -> Option<&str> {
        self.contact.as_deref()
    }

    pub(crate) fn custom_roots(&self) -> bool {
        self.roots.is_some()
    }

    /// The account, loaded from the store or created (and saved) on first use.
    pub(crate) async fn get(&self) -> Result<Account, AcmeError> {
        let mut slot = self.cached.lock().await;
        if let Some(account) = slot.as_ref() {
            return Ok(account.clone());
        }
        let account = match self.load_saved().await? {
            Some(credentials) => self
                .builder()?
                .from_credentials(credentials)
                .await
                .map_err(AcmeError::step("restore account"))?,
            None => self.create_account().await?,
        };
        *slot = Some(account.clone());
        Ok(account)
    }

    /// Drop the cached account and create a new one.
    pub(crate) async fn recreate(&self) -> Result<Account, AcmeError> {
        let mut slot = self.cached.lock().await;
        let account = self.create_account().await?;
        *slot = Some(account.clone());
        Ok(account)
    }

    /// Saved credentials for this directory, if any.
    async fn load_saved(&self) -> Result<Option<AccountCredentials>, AcmeError> {
        let Some(json) = self.store.load().await? else {
            return Ok(None);
        };
        match serde_json::from_str::<StoredAccount>(&json) {
            Ok(saved) if saved.directory_url == self.directory_url => Ok(Some(saved.credentials)),
            Ok(saved) => {
                tracing::info!(saved = %saved.directory_url, directory = %self.directory_url, "saved ACME account is for another directory; creating a new one");
                Ok(None)
            }
            Err(e) => Err(AcmeError::AccountStore(format!(
                "saved account credentials are not valid JSON: {e}"
            ))),
        }
    }

    /// Register a new account and save its credentials.
    async fn create_account(&self) -> Result<Account, AcmeError> {
        let contact: Vec<&str> = self.contact.as_deref().into_iter().collect();
        let (account, credentials) = self
            .builder()?
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.directory_url.clone(),
                None,
            )
            .await
            .map_err(AcmeError::step("create account"))?;
        let json = serde_json::to_string(&StoredAccount {
            directory_url: self.directory_url.clone(),
            credentials,
        })
        .map_err(|e| AcmeError::AccountStore(format!("cannot encode credentials: {e}")))?;
        self.store.save(&json).await?;
        tracing::info!(directory = %self.directory_url, id = account.id(), "ACME account created");
        Ok(account)
    }

    fn builder(&self) -> Result<AccountBuilder, AcmeError> {
        match &self.roots {
            Some(roots) => Ok(Account::builder_with_http(client_with_roots(
                roots.clone(),
            )?)),
            None => {
                // The platform verifier builds its config from the process default provider;
                // make sure that is ring (an Err means one is already installed).
                let _ = rustls::crypto::ring::default_provider().install_default();
                Account::builder().map_err(AcmeError::step("build HTTPS client"))
            }
        }
    }
}
