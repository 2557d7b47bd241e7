//! Built-in ACME wiring: account store, certificate sink and challenge store for the chosen
//! source.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use gatehouse_certs::acme::{AccountStore, FileAccountStore, Issuer};
use gatehouse_certs::ChallengeStore;
use gatehouse_certs::MemoryChallenges;
use gatehouse_controller::acme::{
    AcmeManager, AcmeMetrics, AcmeSettings, CertSink, FileSink, KubeSink,
};
use gatehouse_controller::events::AcmeEvents;
use gatehouse_proxy::metrics::Metrics;

use crate::cli::Cli;
use crate::controller::identity;

/// ACME settings from the flags, if ACME is on.
pub(crate) struct AcmeConfig {
    pub(crate) directory: String,
    pub(crate) email: Option<String>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) identity: String,
    pub(crate) election_namespace: String,
    pub(crate) settings: AcmeSettings,
    pub(crate) metrics: Option<Arc<Metrics>>,
}

/// ACME settings from the flags; `None` when --acme-directory is not given.
pub(crate) fn acme_config(cli: &Cli) -> Result<Option<AcmeConfig>> {
    let Some(directory) = cli.acme_directory.clone() else {
        return Ok(None);
    };
    if cli.manifests.is_some() && cli.state_dir.is_none() {
        bail!("--acme-directory with --manifests needs --state-dir DIR for the account and certificates");
    }
    Ok(Some(AcmeConfig {
        directory,
        email: cli.acme_email.clone(),
        ca_file: cli.acme_ca_file.clone(),
        state_dir: cli.state_dir.clone(),
        identity: identity(cli),
        election_namespace: cli.election_namespace.clone(),
        settings: AcmeSettings {
            acme_all: cli.acme_all,
            check_every: Duration::from_secs(cli.acme_check_interval.max(1)),
            backoff_initial: Duration::from_secs(cli.acme_backoff_initial.max(1)),
            backoff_max: Duration::from_secs(cli.acme_backoff_max.max(1)),
        },
        metrics: None,
    }))
}

/// Account store, certificate sink, challenge store, and a directory to watch for issued Secrets.
pub(crate) type AcmeParts = (
    Arc<dyn AccountStore>,
    Box<dyn CertSink>,
    Arc<dyn ChallengeStore>,
    Option<PathBuf>,
);

/// The ACME loop for the chosen source; `served` is what the proxies answer HTTP-01 from.
pub(crate) fn acme_manager(
    acme: AcmeConfig,
    kube: Option<&kube::Client>,
    served: &MemoryChallenges,
    leader: Arc<AtomicBool>,
) -> Result<(AcmeManager, Option<PathBuf>)> {
    use gatehouse_controller::acme::kube_store::{KubeChallenges, SecretAccountStore};
    let (store, sink, challenges, extra_dir): AcmeParts = match (kube, &acme.state_dir) {
        (Some(client), _) => (
            Arc::new(SecretAccountStore::new(
                kube::Api::namespaced(client.clone(), &acme.election_namespace),
                ACME_ACCOUNT_SECRET,
            )),
            Box::new(KubeSink::new(client.clone())),
            Arc::new(KubeChallenges::new(
                kube::Api::namespaced(client.clone(), &acme.election_namespace),
                ACME_CHALLENGE_CONFIGMAP,
                served.clone(),
            )),
            None,
        ),
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let secrets = dir.join("secrets");
            (
                Arc::new(FileAccountStore::new(dir.join("acme-account.json"))),
                Box::new(FileSink::new(secrets.clone())),
                Arc::new(served.clone()),
                Some(secrets),
            )
        }
        (None, None) => bail!("ACME in manifests mode needs --state-dir"),
    };
    let issuer = Issuer::new(
        &acme.directory,
        acme.email.as_deref(),
        acme.ca_file.as_deref(),
        store,
    )
    .context("setting up ACME")?;
    let mut manager = AcmeManager::new(issuer, sink, challenges, leader, acme.settings);
    if let Some(metrics) = acme.metrics {
        manager = manager.with_observer(Arc::new(AcmeMetrics(metrics)));
    }
    if let Some(client) = kube {
        manager = manager.with_observer(Arc::new(AcmeEvents::new(
            client.clone(),
            "gatehouse",
            &acme.identity,
        )));
    }
    Ok((manager, extra_dir))
}

/// The Secret holding the ACME account (cluster mode), in gatehouse's namespace.
pub(crate) const ACME_ACCOUNT_SECRET: &str = "gatehouse-acme-account";
/// The ConfigMap holding pending HTTP-01 answers (cluster mode), in gatehouse's namespace.
pub(crate) const ACME_CHALLENGE_CONFIGMAP: &str = "gatehouse-acme-challenges";
