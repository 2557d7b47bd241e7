//! The leader's ACME loop: after every published snapshot (and on a timer, for renewals) it
//! plans the certificates to order, orders them one by one, and stores what it gets. Failures
//! back off exponentially with jitter per Secret and never touch a still-valid certificate.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_certs::acme::{AcmeError, AcmeErrorKind, Backoff, Issuer};
use gatehouse_certs::ChallengeStore;
use gatehouse_routes::IngressRef;
use tokio::sync::watch;
use tokio::time::Instant;

use gatehouse_certs::renewal;

use super::plan::{plan, AcmeWant, Managed, Plan};
use super::sink::CertSink;
use crate::snapshot::Snapshot;
use crate::translate::{HostOwners, Warning};

/// What the reconciler hands to the ACME loop after each publish.
#[derive(Debug, Default)]
pub struct Published {
    /// The snapshot that was translated (shared with the reconciler, not copied).
    pub snapshot: Arc<Snapshot>,
    /// Ingresses per class of ours.
    pub members: BTreeMap<String, Vec<IngressRef>>,
    /// Per class, the Ingress that owns each host: certificates are ordered only for these.
    pub host_owners: BTreeMap<String, HostOwners>,
}

/// The sending side the reconciler publishes into.
pub type AcmeFeed = watch::Sender<Option<Arc<Published>>>;

/// ACME loop settings.
#[derive(Clone, Debug)]
pub struct AcmeSettings {
    /// Order for every TLS entry of our Ingresses, not only annotated ones.
    pub acme_all: bool,
    /// How often certificates are re-checked for renewal without any change.
    pub check_every: Duration,
    /// First retry delay after a failed order.
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

/// Reports each order's outcome (metrics, Events).
pub trait AcmeObserver: Send + Sync {
    /// An order for `want` succeeded with a certificate valid between these unix times.
    fn issued(&self, want: &AcmeWant, not_before: i64, not_after: i64);
    /// An order for `want` failed with an error of `kind`; the next try is after `retry_in`.
    fn failed(&self, want: &AcmeWant, kind: AcmeErrorKind, error: &str, retry_in: Duration);
}

/// Counts ACME orders and exposes next renewal times.
pub struct AcmeMetrics(pub Arc<gatehouse_metrics::Metrics>);

impl AcmeObserver for AcmeMetrics {
    fn issued(&self, want: &AcmeWant, not_before: i64, not_after: i64) {
        self.0
            .acme_order(gatehouse_metrics::AcmeOrderResult::Issued);
        let at = renewal::renew_at(not_before, not_after);
        for name in &want.names {
            self.0.set_next_renewal(name, Some(at));
        }
    }

    fn failed(&self, _want: &AcmeWant, kind: AcmeErrorKind, _error: &str, _retry_in: Duration) {
        let result = if kind.is_invalid_order() {
            gatehouse_metrics::AcmeOrderResult::Invalid
        } else {
            gatehouse_metrics::AcmeOrderResult::Error
        };
        self.0.acme_order(result);
    }
}

struct Retry {
    backoff: Backoff,
    not_before: Instant,
}

/// Orders, stores and renews certificates while this replica leads.
pub struct AcmeManager {
    issuer: Issuer,
    sink: Box<dyn CertSink>,
    challenges: Arc<dyn ChallengeStore>,
    leader: Arc<AtomicBool>,
    settings: AcmeSettings,
    observers: Vec<Arc<dyn AcmeObserver>>,
    retries: HashMap<(String, String), Retry>,
    /// Secrets written recently, skipped until the source shows the new content.
    stored: HashMap<(String, String), Instant>,
    /// When each managed certificate's Renewal Info was last fetched.
    ari_checked: HashMap<(String, String), Instant>,
    /// The server answered that it has no Renewal Info.
    ari_unsupported: bool,
    /// The plan's warnings logged so far: each is logged once, not every round.
    reported: BTreeSet<Warning>,
}

/// How often a certificate's ACME Renewal Info is fetched again.
const ARI_RECHECK: Duration = Duration::from_secs(6 * 3600);

impl AcmeManager {
    /// A manager ordering through `issuer`, answering through `challenges`, storing in `sink`.
    pub fn new(
        issuer: Issuer,
        sink: Box<dyn CertSink>,
        challenges: Arc<dyn ChallengeStore>,
        leader: Arc<AtomicBool>,
        settings: AcmeSettings,
    ) -> Self {
        Self {
            issuer,
            sink,
            challenges,
            leader,
            settings,
            observers: Vec::new(),
            retries: HashMap::new(),
            stored: HashMap::new(),
            ari_checked: HashMap::new(),
            ari_unsupported: false,
            reported: BTreeSet::new(),
        }
    }

    /// Also reports outcomes to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn AcmeObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Runs until `feed` closes.
    pub async fn run(mut self, mut feed: watch::Receiver<Option<Arc<Published>>>) {
        tracing::info!(directory = %self.issuer.directory_url(), "ACME enabled");
        loop {
            let latest = feed.borrow_and_update().clone();
            if let Some(published) = latest {
                if self.leader.load(Ordering::SeqCst) {
                    self.round(&published).await;
                }
            }
            let next_retry = self.retries.values().map(|r| r.not_before).min();
            let wake = next_retry
                .unwrap_or_else(|| Instant::now() + self.settings.check_every)
                .min(Instant::now() + self.settings.check_every);
            tokio::select! {
                changed = feed.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn round(&mut self, published: &Published) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let Plan {
            mut wants,
            managed,
            warnings,
        } = plan(
            &published.snapshot,
            &published.members,
            &published.host_owners,
            self.settings.acme_all,
            now,
        );
        wants.extend(self.renewal_info_wants(managed, now).await);
        // Refused hosts and foreign Secrets are the user's to fix: warn, once per problem.
        let current: BTreeSet<Warning> = warnings.into_iter().collect();
        for w in current.difference(&self.reported) {
            tracing::warn!(object = %w.object, kind = w.kind.as_str(), "{}", w.message);
        }
        self.reported = current;
        let wanted: Vec<(String, String)> = wants
            .iter()
            .map(|w| (w.namespace.clone(), w.secret.clone()))
            .collect();
        // Forget state of Secrets no longer wanted (fixed, or their Ingress went away).
        self.retries.retain(|k, _| wanted.contains(k));
        self.stored
            .retain(|k, at| wanted.contains(k) && at.elapsed() < Duration::from_secs(120));
        for want in wants {
            let slot = (want.namespace.clone(), want.secret.clone());
            if self.stored.contains_key(&slot) {
                continue;
            }
            if self
                .retries
                .get(&slot)
                .is_some_and(|r| Instant::now() < r.not_before)
            {
                continue;
            }
            if !self.leader.load(Ordering::SeqCst) {
                return;
            }
            self.order(want, slot).await;
        }
    }

    /// Certificates the CA asks to renew early through ACME Renewal Info (checked at most every
    /// [`ARI_RECHECK`] per certificate; servers without ARI are asked once).
    async fn renewal_info_wants(&mut self, managed: Vec<Managed>, now: i64) -> Vec<AcmeWant> {
        let mut out = Vec::new();
        if self.ari_unsupported {
            return out;
        }
        for m in managed {
            let slot = (m.want.namespace.clone(), m.want.secret.clone());
            if self
                .ari_checked
                .get(&slot)
                .is_some_and(|t| t.elapsed() < ARI_RECHECK)
            {
                continue;
            }
            self.ari_checked.insert(slot, Instant::now());
            match self.issuer.renewal_window(&m.chain_pem).await {
                Ok(None) => {
                    tracing::debug!("the ACME server offers no Renewal Info; renewing at two thirds of the lifetime");
                    self.ari_unsupported = true;
                    return out;
                }
                Ok(Some(window)) if renewal::due_in_window(window.start, window.end, 0.5, now) => {
                    out.push(m.want)
                }
                Ok(Some(_)) => {}
                Err(e) => {
                    tracing::debug!(secret = %m.want.secret, "ACME Renewal Info unavailable: {e}")
                }
            }
        }
        out
    }

    async fn order(&mut self, want: AcmeWant, slot: (String, String)) {
        tracing::info!(secret = %format!("{}/{}", want.namespace, want.secret), names = ?want.names, reason = ?want.reason, "ordering certificate");
        let started = Instant::now();
        let result = match self
            .issuer
            .issue(&want.names, self.challenges.as_ref())
            .await
        {
            Ok(cert) => self
                .sink
                .store(&want.namespace, &want.secret, &cert)
                .await
                .map(|()| (cert.not_before, cert.not_after))
                .map_err(AcmeError::Store),
            Err(e) => Err(e),
        };
        // Withdraw the answers from every replica, whatever the outcome.
        if let Err(e) = self.challenges.flush().await {
            tracing::warn!("withdrawing ACME challenges: {e}");
        }
        match result {
            Ok((not_before, not_after)) => {
                tracing::info!(secret = %format!("{}/{}", want.namespace, want.secret), not_after, seconds = started.elapsed().as_secs_f64(), "certificate issued and stored");
                self.retries.remove(&slot);
                self.stored.insert(slot, Instant::now());
                for o in &self.observers {
                    o.issued(&want, not_before, not_after);
                }
            }
            Err(e) => {
                let error = e.to_string();
                let (initial, max) = (self.settings.backoff_initial, self.settings.backoff_max);
                let retry = self.retries.entry(slot).or_insert_with(|| Retry {
                    backoff: Backoff::new(initial, max),
                    not_before: Instant::now(),
                });
                let delay = retry.backoff.next_delay();
                retry.not_before = Instant::now() + delay;
                tracing::warn!(secret = %format!("{}/{}", want.namespace, want.secret), attempt = retry.backoff.attempts(), retry_in = ?delay, "ACME order failed; the current certificate (if any) stays in place: {error}");
                for o in &self.observers {
                    o.failed(&want, e.kind(), &error, delay);
                }
            }
        }
    }
}
