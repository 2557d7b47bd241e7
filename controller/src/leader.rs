//! Leader election with a `coordination.k8s.io/v1` Lease, in the manner of client-go: a lease
//! counts as expired when its record has not changed for its duration, as observed by our own
//! clock (so clocks of different replicas need not agree).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::time::Instant;

/// Lease timings.
#[derive(Clone, Debug)]
pub struct LeaseTimings {
    /// How long a lease is valid without renewal.
    pub duration: Duration,
    /// How often the holder renews (and followers retry).
    pub renew_every: Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(2),
        }
    }
}

/// Elects one leader among replicas sharing a Lease name.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: LeaseTimings,
    leader: Arc<AtomicBool>,
    observed: Option<(String, Instant)>,
}

impl LeaderElector {
    /// An elector for Lease `name` in the namespace of `api`, as `identity` (the pod name);
    /// `leader` is kept true while this replica holds the lease.
    pub fn new(
        api: Api<Lease>,
        name: &str,
        identity: &str,
        timings: LeaseTimings,
        leader: Arc<AtomicBool>,
    ) -> Self {
        Self {
            api,
            name: name.to_string(),
            identity: identity.to_string(),
            timings,
            leader,
            observed: None,
        }
    }

    /// A flag that is true while this replica holds the lease.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.leader.clone()
    }

    /// Campaigns and renews forever.
    pub async fn run(mut self) {
        let mut last_renew: Option<Instant> = None;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    if !self.leader.swap(true, Ordering::SeqCst) {
                        tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
                    }
                    last_renew = Some(Instant::now());
                }
                Ok(false) => self.step_down("another replica holds the lease"),
                Err(e) => {
                    tracing::warn!(lease = %self.name, "lease update failed: {e}");
                    // Without a successful renewal for a whole lease duration another replica
                    // may have taken over: stop acting as leader.
                    if last_renew.is_none_or(|t| t.elapsed() >= self.timings.duration) {
                        self.step_down("lease could not be renewed");
                    }
                }
            }
            tokio::time::sleep(self.timings.renew_every).await;
        }
    }

    fn step_down(&self, why: &str) {
        if self.leader.swap(false, Ordering::SeqCst) {
            tracing::info!(lease = %self.name, "no longer leader: {why}");
        }
    }

    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let duration_secs = i32::try_from(self.timings.duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };

        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let record = format!(
            "{holder}|{:?}|{:?}",
            spec.renew_time.as_ref().map(|t| t.0),
            lease.metadata.resource_version
        );
        let held_for = match &self.observed {
            Some((seen, at)) if *seen == record => at.elapsed(),
            _ => {
                self.observed = Some((record, Instant::now()));
                Duration::ZERO
            }
        };
        let lease_duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.timings.duration, Duration::from_secs);
        let ours = holder == self.identity;
        let expired = holder.is_empty() || held_for >= lease_duration;
        if !ours && !expired {
            return Ok(false);
        }
        let mut new_spec = spec.clone();
        new_spec.holder_identity = Some(self.identity.clone());
        new_spec.lease_duration_seconds = Some(duration_secs);
        new_spec.renew_time = Some(now.clone());
        if !ours {
            new_spec.acquire_time = Some(now);
            new_spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        lease.spec = Some(new_spec);
        // Replace carries the resourceVersion we read: a concurrent writer makes this a 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}
