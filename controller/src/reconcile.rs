//! The one reconcile loop, in the manner of kube-rs's `controller-rs`: one [`Context`] holding
//! the shared things, one [`reconcile`] function, errors as an enum with a metric label.
//!
//! Sources only send [`SourceUpdate`]s. This loop coalesces them ([`HoldOff`]), translates and
//! publishes the tables through the [`Publisher`], feeds the ACME loop, and — while this replica
//! leads — writes Ingress status and Events. It also re-syncs status and Events periodically
//! without a change, so a replica that becomes leader catches up.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::acme::{AcmeFeed, Published};
use crate::events::{EventEmitter, EventError};
use crate::publish::{PublishOutcome, Publisher};
use crate::sources::{SourceUpdate, UpdateReceiver};
use crate::status::{self, AddressSource, StatusError, StatusWriter};

/// Why a reconcile's side effects failed (publishing itself cannot fail: a bad object becomes
/// a warning). Each failure is retried on the next reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing Ingress status failed.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// Publishing Events failed.
    #[error(transparent)]
    Events(#[from] EventError),
}

impl Error {
    /// Short stable label for failure counters and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Status(_) => "status",
            Self::Events(_) => "events",
        }
    }
}

/// Result of a reconcile step.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long to wait for a burst of updates to end before reconciling: quiet for `quiet`, but
/// never longer than `cap` after the first update (so a continuous stream still gets through).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldOff {
    /// Quiet time after the last update.
    pub quiet: Duration,
    /// Longest delay after the first update of a burst.
    pub cap: Duration,
}

impl HoldOff {
    /// For the Kubernetes source: watch events arrive in bursts (rollouts, resyncs).
    pub const KUBE: HoldOff = HoldOff {
        quiet: Duration::from_millis(50),
        cap: Duration::from_millis(500),
    };
    /// For the manifests source: an edit is a few file events close together.
    pub const MANIFESTS: HoldOff = HoldOff {
        quiet: Duration::from_millis(15),
        cap: Duration::from_millis(200),
    };

    /// Waits for the next change on `rx`, then until changes stop for [`Self::quiet`] (at most
    /// [`Self::cap`]). Errors when the sender is gone before any change.
    pub async fn changed<T>(
        &self,
        rx: &mut watch::Receiver<T>,
    ) -> Result<(), watch::error::RecvError> {
        rx.changed().await?;
        let deadline = Instant::now() + self.cap;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.quiet) => return Ok(()),
                _ = tokio::time::sleep_until(deadline) => return Ok(()),
                changed = rx.changed() => if changed.is_err() {
                    // The sender is gone: what it sent last is still worth reconciling.
                    return Ok(());
                },
            }
        }
    }
}

/// How the reconcile loop runs.
#[derive(Clone, Copy, Debug)]
pub struct ReconcileConfig {
    /// Coalescing of bursts of updates.
    pub hold_off: HoldOff,
    /// How often the leader re-checks status and Events without a change (e.g. after taking
    /// over from another replica).
    pub status_resync: Duration,
    /// Longest time status and Event writes may take before the loop goes back to publishing.
    pub write_timeout: Duration,
}

impl ReconcileConfig {
    /// Settings for `hold_off` with the usual status re-sync (2 s).
    pub fn new(hold_off: HoldOff) -> Self {
        Self {
            hold_off,
            status_resync: STATUS_RESYNC,
            write_timeout: WRITE_TIMEOUT,
        }
    }
}

/// How long one reconcile's status and Event writes may take (see [`ReconcileConfig`]).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the leader re-checks status even without changes (e.g. after taking over).
pub const STATUS_RESYNC: Duration = Duration::from_secs(2);

/// Ingress status: the writer and where each class's addresses come from.
struct StatusSync {
    writer: StatusWriter,
    sources: BTreeMap<String, AddressSource>,
}

/// Everything a reconcile acts through: the narrow doors out of the controller.
pub struct Context {
    publisher: Publisher,
    status: Option<StatusSync>,
    events: Option<EventEmitter>,
    acme: Option<AcmeFeed>,
    leader: Arc<AtomicBool>,
    /// Whether the last reconcile acted as leader (losing leadership resets the status writer).
    was_leader: bool,
    /// Runs after each publish (the binary returns the translation's freed memory).
    after_publish: Option<fn()>,
}

impl Context {
    /// A context publishing through `publisher`; `leader` is true while this replica leads.
    pub fn new(publisher: Publisher, leader: Arc<AtomicBool>) -> Self {
        Self {
            publisher,
            status: None,
            events: None,
            acme: None,
            leader,
            was_leader: false,
            after_publish: None,
        }
    }

    /// Also runs `hook` after each publish, on the controller's thread.
    pub fn with_after_publish(mut self, hook: fn()) -> Self {
        self.after_publish = Some(hook);
        self
    }

    /// Also writes Ingress status (leader only) with the addresses of each class in `sources`.
    pub fn with_status(
        mut self,
        writer: StatusWriter,
        sources: BTreeMap<String, AddressSource>,
    ) -> Self {
        self.status = Some(StatusSync { writer, sources });
        self
    }

    /// Also publishes Events for warnings (leader only).
    pub fn with_events(mut self, events: EventEmitter) -> Self {
        self.events = Some(events);
        self
    }

    /// Also hands every published snapshot to the ACME loop.
    pub fn with_acme(mut self, feed: AcmeFeed) -> Self {
        self.acme = Some(feed);
        self
    }

    /// True when something is written to the cluster, so periodic re-syncs are worth doing.
    fn writes_to_cluster(&self) -> bool {
        self.status.is_some() || self.events.is_some()
    }
}

/// The last update and what publishing it decided.
pub struct Reconciled {
    update: Arc<SourceUpdate>,
    outcome: PublishOutcome,
}

/// Translates and publishes `update`, and hands it to the ACME loop.
pub fn publish(ctx: &mut Context, update: Arc<SourceUpdate>) -> Reconciled {
    let outcome = ctx.publisher.publish(&update.snapshot);
    if let Some(feed) = &ctx.acme {
        feed.send_replace(Some(Arc::new(Published {
            snapshot: update.snapshot.clone(),
            members: outcome.members.clone(),
            host_owners: outcome.host_owners.clone(),
        })));
    }
    if let Some(hook) = ctx.after_publish {
        hook();
    }
    Reconciled { update, outcome }
}

/// Brings the cluster in line with the last publish: while leader, writes Ingress status and
/// Events; after losing leadership, forgets what was written (the new leader may change it).
pub async fn reconcile(ctx: &mut Context, current: &Reconciled) -> Result<()> {
    let is_leader = ctx.leader.load(Ordering::SeqCst);
    let was_leader = std::mem::replace(&mut ctx.was_leader, is_leader);
    if !is_leader {
        if was_leader {
            if let Some(status) = &mut ctx.status {
                status.writer.reset();
            }
        }
        return Ok(());
    }
    // Both run even if one fails: they are independent, and each retries on its own.
    let status = match &mut ctx.status {
        Some(status) => sync_status(status, current).await,
        None => Ok(()),
    };
    let events = match &mut ctx.events {
        Some(events) => events.emit(&current.outcome.warnings).await,
        None => Ok(()),
    };
    status?;
    events?;
    Ok(())
}

async fn sync_status(status: &mut StatusSync, current: &Reconciled) -> Result<(), StatusError> {
    if status.sources.is_empty() {
        return Ok(());
    }
    let addresses = status
        .sources
        .iter()
        .map(|(class, source)| {
            let services = &current.update.publish_services;
            (class.clone(), status::class_addresses(source, services))
        })
        .collect();
    let changes = status::plan(
        &current.update.snapshot,
        &current.outcome.members,
        &addresses,
    );
    status.writer.apply(changes).await
}

/// Runs until the source's side of `updates` is gone: publishes the first complete picture at
/// once, then the latest one after each burst, reconciling after each publish and every
/// [`ReconcileConfig::status_resync`].
pub async fn run(mut updates: UpdateReceiver, mut ctx: Context, config: ReconcileConfig) {
    // Nothing is published before the source's first complete picture.
    let first = match updates.wait_for(Option::is_some).await {
        Ok(first) => first.clone(),
        Err(_) => return,
    };
    let Some(first) = first else { return };
    let mut published = first.clone();
    let mut current = publish(&mut ctx, first);
    loop {
        // Status and Event writes must never hold back the next publish: a hung API call is
        // cut off and retried on the next reconcile.
        match tokio::time::timeout(config.write_timeout, reconcile(&mut ctx, &current)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = e.metric_label(), "{e}"),
            Err(_) => tracing::warn!(
                timeout = ?config.write_timeout,
                "status and Event writes did not finish in time; publishing goes on and they are retried"
            ),
        }
        let resync = ctx.writes_to_cluster();
        tokio::select! {
            changed = config.hold_off.changed(&mut updates) => {
                if changed.is_err() {
                    return;
                }
                tracing::debug!("hold-off over");
            }
            _ = tokio::time::sleep(config.status_resync), if resync => {}
        }
        // Whichever branch won, the newest picture is published if it is not yet: the resync
        // timer can end the hold-off after it has already taken a change as seen, and that
        // change must not wait for the next one.
        let latest = updates.borrow_and_update().clone();
        if let Some(latest) = latest.filter(|l| !Arc::ptr_eq(l, &published)) {
            published = latest.clone();
            current = publish(&mut ctx, latest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::TableSink;
    use crate::snapshot::Snapshot;
    use crate::translate::{ClassConfig, TranslateConfig};
    use gatehouse_certs::CertSet;
    use gatehouse_routes::RouteTable;

    /// Numbers publishes as the proxy's instances number table generations.
    #[derive(Default)]
    struct Generations(std::sync::atomic::AtomicU64);

    impl Generations {
        fn generation(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl TableSink for Generations {
        fn publish(&self, _class: &str, _table: RouteTable, _certs: CertSet) -> Option<u64> {
            Some(self.0.fetch_add(1, Ordering::SeqCst) + 1)
        }
    }

    /// Records when each coalesced change was seen and the value it carried.
    async fn coalesced(
        hold: HoldOff,
        mut rx: watch::Receiver<u32>,
        started: Instant,
    ) -> Vec<(Duration, u32)> {
        let mut seen = Vec::new();
        while hold.changed(&mut rx).await.is_ok() {
            seen.push((started.elapsed(), *rx.borrow_and_update()));
        }
        seen
    }

    /// Sends `count` values `every` apart, then stays quiet for a second before closing.
    async fn burst(tx: watch::Sender<u32>, count: u32, every: Duration) {
        for i in 1..=count {
            tx.send_replace(i);
            tokio::time::sleep(every).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_updates_gives_one_reconcile_with_the_last() {
        let (tx, rx) = watch::channel(0);
        let started = Instant::now();
        let hold = HoldOff::KUBE;
        let (_, seen) = tokio::join!(
            burst(tx, 10, Duration::from_millis(10)),
            coalesced(hold, rx, started)
        );
        // The last send is at 90 ms; the reconcile follows one quiet period later.
        assert_eq!(seen, vec![(Duration::from_millis(90) + hold.quiet, 10)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_continuous_burst_is_cut_at_the_cap() {
        let (tx, rx) = watch::channel(0);
        let started = Instant::now();
        let hold = HoldOff::MANIFESTS;
        let every = Duration::from_millis(5);
        let (_, seen) = tokio::join!(burst(tx, 100, every), coalesced(hold, rx, started));
        // Sends never pause for the quiet period, so only the cap lets reconciles through.
        assert!(seen.len() >= 2, "{seen:?}");
        assert_eq!(
            seen[0].0, hold.cap,
            "the first reconcile waits at most the cap"
        );
        let last = seen.last().map(|(_, v)| *v);
        assert_eq!(last, Some(100), "the last value is reconciled: {seen:?}");
    }

    fn context(class: &str) -> (Context, Arc<Generations>) {
        let instance = Arc::new(Generations::default());
        let instances: Arc<dyn TableSink> = instance.clone();
        let config = TranslateConfig::new(vec![ClassConfig {
            name: class.into(),
            is_default: true,
            has_https: false,
        }]);
        let leader = Arc::new(AtomicBool::new(true));
        (
            Context::new(Publisher::new(instances, config), leader),
            instance,
        )
    }

    fn update() -> Option<Arc<SourceUpdate>> {
        Some(Arc::new(SourceUpdate {
            snapshot: Arc::new(Snapshot::default()),
            publish_services: Vec::new(),
        }))
    }

    /// The leader's status re-sync timer can fire while the hold-off waits for quiet after a
    /// change it has already taken as seen: that change must still be published.
    #[tokio::test(start_paused = true)]
    async fn a_change_is_published_when_the_resync_timer_ends_the_hold_off() {
        let (ctx, instance) = context("web");
        // Events make the loop re-sync on a timer (no warnings here, so nothing is sent).
        let client = kube::Client::try_from(kube::Config::new(
            "http://127.0.0.1:9".parse().expect("url"),
        ))
        .expect("client");
        let ctx = ctx.with_events(crate::events::EventEmitter::new(client, "test", "replica"));
        let (tx, rx) = crate::sources::channel();
        let config = ReconcileConfig::new(HoldOff::KUBE);
        let reconciler = tokio::spawn(run(rx, ctx, config));
        tx.send_replace(update());
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(instance.generation(), 1);
        // Just before the re-sync: the hold-off's quiet wait (50 ms) outlasts the timer.
        tokio::time::sleep(config.status_resync - Duration::from_millis(20)).await;
        tx.send_replace(update());
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            instance.generation(),
            2,
            "the change is published, not lost"
        );
        drop(tx);
        let _ = tokio::time::timeout(Duration::from_secs(5), reconciler).await;
    }

    #[tokio::test(start_paused = true)]
    async fn publishes_the_first_picture_at_once_then_once_per_burst() {
        let (ctx, instance) = context("web");
        let (acme_tx, mut acme_rx) = watch::channel(None);
        let ctx = ctx.with_acme(acme_tx);
        let (tx, rx) = crate::sources::channel();
        let reconciler = tokio::spawn(run(rx, ctx, ReconcileConfig::new(HoldOff::KUBE)));
        tokio::task::yield_now().await;
        assert_eq!(instance.generation(), 0, "nothing before the first picture");

        tx.send_replace(update());
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(
            instance.generation(),
            1,
            "the first picture is published at once"
        );
        assert!(acme_rx.has_changed().unwrap_or(false), "ACME is fed");
        acme_rx.mark_unchanged();

        for _ in 0..20 {
            tx.send_replace(update());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(HoldOff::KUBE.quiet).await;
        assert_eq!(instance.generation(), 2, "a burst is one publish");
        assert!(acme_rx.has_changed().unwrap_or(false), "ACME is fed again");

        drop(tx);
        tokio::time::timeout(Duration::from_secs(1), reconciler)
            .await
            .expect("the loop ends with its source")
            .expect("the loop does not panic");
    }
}
