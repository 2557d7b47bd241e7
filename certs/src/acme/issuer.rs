//! One ACME account issuing certificates with HTTP-01.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use instant_acme::{AuthorizationStatus, ChallengeType, Identifier, NewOrder, Order, OrderStatus};

use super::account::AccountSource;
use super::account_store::AccountStore;
use super::backoff::Backoff;
use super::directory::directory_url;
use super::error::AcmeError;
use super::http_client::read_roots;
use super::renewal_info::{self, RenewalWindow};
use crate::challenge::ChallengeStore;
use crate::tls_secret::parse_tls_pair;

/// Problem type the server returns when stored credentials name an account it does not know
/// (e.g. a test CA restarted, or the account was deactivated).
const ACCOUNT_DOES_NOT_EXIST: &str = "urn:ietf:params:acme:error:accountDoesNotExist";

/// A certificate fresh from the CA, ready to store as a `kubernetes.io/tls` Secret.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    /// Leaf first, then intermediates (PEM).
    pub chain_pem: String,
    /// The new private key, PKCS#8 PEM.
    pub key_pem: String,
    /// Start of validity, unix seconds.
    pub not_before: i64,
    /// End of validity, unix seconds.
    pub not_after: i64,
}

/// Issues certificates from one ACME directory with one account (created on first use and
/// saved in the [`AccountStore`]).
pub struct Issuer {
    accounts: AccountSource,
    poll_timeout: Duration,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("directory_url", &self.accounts.directory_url())
            .field("contact", &self.accounts.contact())
            .field("custom_roots", &self.accounts.custom_roots())
            .finish()
    }
}

impl Issuer {
    /// An issuer for `directory` (`letsencrypt`, `letsencrypt-staging` or an https URL).
    /// `extra_roots` is a PEM file of CAs to trust for the ACME server's own HTTPS instead of
    /// the system store (for private or test CAs such as Pebble).
    pub fn new(
        directory: &str,
        contact_email: Option<&str>,
        extra_roots: Option<&Path>,
        store: Arc<dyn AccountStore>,
    ) -> Result<Self, AcmeError> {
        let url = directory_url(directory);
        if !url.starts_with("https://") {
            return Err(AcmeError::Directory {
                url: directory.to_owned(),
                reason: "not an https URL",
            });
        }
        let roots = extra_roots.map(read_roots).transpose()?;
        let contact = contact_email
            .filter(|e| !e.is_empty())
            .map(|e| format!("mailto:{e}"));
        Ok(Self {
            accounts: AccountSource::new(url.to_owned(), contact, roots, store),
            poll_timeout: Duration::from_secs(90),
        })
    }

    /// Give up polling an order after `timeout` (default 90 s).
    pub fn with_poll_timeout(mut self, timeout: Duration) -> Self {
        self.poll_timeout = timeout;
        self
    }

    /// The resolved directory URL.
    pub fn directory_url(&self) -> &str {
        self.accounts.directory_url()
    }

    /// Order a certificate for `names`, answer HTTP-01 through `challenges`, and return the
    /// chain with a fresh key. Challenges are removed afterwards, whatever the outcome.
    pub async fn issue(
        &self,
        names: &[String],
        challenges: &dyn ChallengeStore,
    ) -> Result<IssuedCert, AcmeError> {
        let names = normalize(names)?;
        let identifiers: Vec<Identifier> =
            names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let new_order = NewOrder::new(&identifiers);
        let account = self.accounts.get().await?;
        let mut order = match account.new_order(&new_order).await {
            Ok(order) => order,
            Err(e) if is_account_missing(&e) => {
                tracing::warn!(directory = %self.accounts.directory_url(), "ACME account unknown to the server; creating a new one");
                let account = self.accounts.recreate().await?;
                account
                    .new_order(&new_order)
                    .await
                    .map_err(AcmeError::step("new order"))?
            }
            Err(e) => return Err(AcmeError::step("new order")(e)),
        };

        let mut guard = ChallengeGuard {
            store: challenges,
            tokens: Vec::new(),
        };
        self.answer_challenges(&mut order, &mut guard).await?;
        self.wait_ready(&mut order, &names).await?;

        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(names.clone())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key)?;
        order
            .finalize_csr(csr.der())
            .await
            .map_err(AcmeError::step("finalize"))?;
        let chain_pem = self.wait_certificate(&mut order).await?;
        drop(guard);

        let key_pem = key.serialize_pem();
        let loaded = parse_tls_pair(chain_pem.as_bytes(), key_pem.as_bytes())?;
        tracing::info!(names = ?names, not_after = loaded.not_after, "ACME certificate issued");
        Ok(IssuedCert {
            chain_pem,
            key_pem,
            not_before: loaded.not_before,
            not_after: loaded.not_after,
        })
    }

    /// The CA's ACME Renewal Info window for a certificate, or `None` when the server does not
    /// offer ARI (then use [`crate::renewal::due`]).
    pub async fn renewal_window(
        &self,
        chain_pem: &[u8],
    ) -> Result<Option<RenewalWindow>, AcmeError> {
        let account = self.accounts.get().await?;
        renewal_info::window(&account, chain_pem).await
    }

    /// Publish an answer and mark each pending authorization's HTTP-01 challenge ready.
    async fn answer_challenges(
        &self,
        order: &mut Order,
        guard: &mut ChallengeGuard<'_>,
    ) -> Result<(), AcmeError> {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(AcmeError::step("fetch authorization"))?;
            let name = authz.identifier().to_string();
            match authz.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => {
                    return Err(AcmeError::Authorization {
                        name,
                        status: format!("{other:?}").to_lowercase(),
                    })
                }
            }
            let mut challenge = authz
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| AcmeError::NoHttp01 { name: name.clone() })?;
            let key_authorization = challenge.key_authorization();
            guard.set(&challenge.token, key_authorization.as_str());
            guard
                .store
                .flush()
                .await
                .map_err(|detail| AcmeError::ChallengePublish { detail })?;
            challenge
                .set_ready()
                .await
                .map_err(AcmeError::step("set challenge ready"))?;
            tracing::debug!(%name, "HTTP-01 challenge ready");
        }
        Ok(())
    }

    /// Poll until the order is ready to finalize.
    async fn wait_ready(&self, order: &mut Order, names: &[String]) -> Result<(), AcmeError> {
        let started = Instant::now();
        let mut backoff = poll_backoff();
        loop {
            match order.state().status {
                OrderStatus::Ready | OrderStatus::Processing | OrderStatus::Valid => return Ok(()),
                OrderStatus::Invalid => {
                    return Err(AcmeError::ValidationFailed {
                        names: names.join(", "),
                        detail: failure_detail(order).await,
                    })
                }
                OrderStatus::Pending => {}
            }
            self.pause(&mut backoff, started, "order validation")
                .await?;
            order
                .refresh()
                .await
                .map_err(AcmeError::step("poll order"))?;
        }
    }

    /// Poll until the finalized order has a certificate, and download it.
    async fn wait_certificate(&self, order: &mut Order) -> Result<String, AcmeError> {
        let started = Instant::now();
        let mut backoff = poll_backoff();
        loop {
            match order.state().status {
                OrderStatus::Valid => {
                    return order
                        .certificate()
                        .await
                        .map_err(AcmeError::step("download certificate"))?
                        .ok_or(AcmeError::Protocol {
                            step: "download certificate",
                            source: instant_acme::Error::Str("no certificate in a valid order"),
                        })
                }
                OrderStatus::Invalid => {
                    return Err(AcmeError::Authorization {
                        name: order.url().to_owned(),
                        status: "invalid after finalize".to_owned(),
                    })
                }
                OrderStatus::Pending | OrderStatus::Ready | OrderStatus::Processing => {}
            }
            self.pause(&mut backoff, started, "certificate").await?;
            order
                .refresh()
                .await
                .map_err(AcmeError::step("poll order"))?;
        }
    }

    /// Sleep the next backoff delay unless that would pass the poll timeout.
    async fn pause(
        &self,
        backoff: &mut Backoff,
        started: Instant,
        step: &'static str,
    ) -> Result<(), AcmeError> {
        let delay = backoff.next_delay();
        if started.elapsed() + delay > self.poll_timeout {
            return Err(AcmeError::Timeout {
                step,
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// Lowercased, deduplicated, non-empty names.
fn normalize(names: &[String]) -> Result<Vec<String>, AcmeError> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    if out.is_empty() {
        return Err(AcmeError::NoNames);
    }
    Ok(out)
}

fn poll_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(250), Duration::from_secs(5))
}

fn is_account_missing(e: &instant_acme::Error) -> bool {
    matches!(e, instant_acme::Error::Api(p) if p.r#type.as_deref() == Some(ACCOUNT_DOES_NOT_EXIST))
}

/// Collect the CA's reasons from an invalid order's authorizations.
async fn failure_detail(order: &mut Order) -> String {
    // Pebble and Boulder copy the failing challenge's problem onto the order; report the
    // per-name challenge errors and fall back to the order's only when there are none.
    let order_problem = order.state().error.as_ref().map(ToString::to_string);
    let mut details = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        let Ok(state) = authz.refresh().await else {
            continue;
        };
        let name = state.identifier().to_string();
        for challenge in &state.challenges {
            if let Some(problem) = &challenge.error {
                details.push(format!("{name}: {problem}"));
            }
        }
    }
    if !details.is_empty() {
        return details.join("; ");
    }
    order_problem.unwrap_or_else(|| "the order became invalid without a reason".to_owned())
}

/// Removes every published challenge when dropped, so no answer outlives its issuance.
struct ChallengeGuard<'a> {
    store: &'a dyn ChallengeStore,
    tokens: Vec<String>,
}

impl ChallengeGuard<'_> {
    fn set(&mut self, token: &str, key_authorization: &str) {
        self.store.set(token, key_authorization);
        self.tokens.push(token.to_owned());
    }
}

impl Drop for ChallengeGuard<'_> {
    fn drop(&mut self) {
        for token in &self.tokens {
            self.store.remove(token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized() {
        let got = normalize(&[
            "A.Example.com".to_owned(),
            "a.example.com.".to_owned(),
            " b.example.com ".to_owned(),
            String::new(),
        ])
        .expect("names");
        assert_eq!(got, vec!["a.example.com", "b.example.com"]);
        assert!(matches!(normalize(&[]), Err(AcmeError::NoNames)));
        assert!(matches!(
            normalize(&[" ".to_owned()]),
            Err(AcmeError::NoNames)
        ));
    }

    #[test]
    fn directory_must_be_https() {
        struct NoStore;
        #[async_trait::async_trait]
        impl AccountStore for NoStore {
            async fn load(&self) -> Result<Option<String>, AcmeError> {
                Ok(None)
            }
            async fn save(&self, _: &str) -> Result<(), AcmeError> {
                Ok(())
            }
        }
        let store: Arc<dyn AccountStore> = Arc::new(NoStore);
        let err = Issuer::new("http://ca.example/dir", None, None, Arc::clone(&store))
            .expect_err("http rejected");
        assert_eq!(err.metric_label(), "directory");
        let ok = Issuer::new("letsencrypt-staging", Some("ops@example.com"), None, store)
            .expect("shortcut");
        assert!(ok.directory_url().starts_with("https://acme-staging-v02"));
        assert_eq!(ok.accounts.contact(), Some("mailto:ops@example.com"));
    }
}
