//! The Kubernetes source: kube-rs watchers feeding reflector stores for every kind gatehouse
//! reads, one rebuild trigger, and the same snapshot → translate → publish path as manifests.
//! Watch handlers only cache; the rebuild loop does everything else. Side effects (status,
//! Events) run only on the leader.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::acme::manager::{AcmeFeed, Published};
use crate::events::EventEmitter;
use crate::leader::{LeaderElector, LeaseTimings};
use crate::publish::{PublishOutcome, Publisher};
use crate::snapshot::Snapshot;
use crate::status::{self, AddressSource, StatusWriter};

/// Quiet time after a change before rebuilding, so bursts coalesce into few swaps.
const HOLD_OFF: Duration = Duration::from_millis(50);
/// A continuous burst delays a rebuild at most this long.
const HOLD_OFF_CAP: Duration = Duration::from_millis(500);
/// How often the leader re-checks status even without changes (e.g. after taking over).
const STATUS_RESYNC: Duration = Duration::from_secs(2);
/// Only TLS Secrets are ever requested, so other secrets never reach this process.
pub const TLS_SECRET_SELECTOR: &str = "type=kubernetes.io/tls";

/// Lease-based leader election settings.
#[derive(Clone, Debug)]
pub struct Election {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease (`--election-id`).
    pub lease_name: String,
    /// Timings.
    pub timings: LeaseTimings,
}

/// How the Kubernetes source runs.
#[derive(Clone, Debug)]
pub struct KubeSourceConfig {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Where each class's status addresses come from.
    pub publish: BTreeMap<String, AddressSource>,
    /// Leader election; `None` means this replica always acts as leader.
    pub election: Option<Election>,
    /// This replica's identity (pod name).
    pub identity: String,
}

type Task = BoxFuture<'static, ()>;

/// Starts a watcher + reflector for `K` and returns its store; the driving task goes to `tasks`.
fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    trigger: &Arc<Notify>,
    tasks: &mut Vec<Task>,
) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let trigger = trigger.clone();
    let stream = watcher(api, config).default_backoff().reflect(writer);
    tasks.push(
        async move {
            stream
                .for_each(|event| {
                    match event {
                        Ok(_) => trigger.notify_one(),
                        Err(e) => tracing::warn!(
                            kind,
                            "watch failed, retrying with backoff (is the API server reachable, and does RBAC allow list/watch?): {e}"
                        ),
                    }
                    futures::future::ready(())
                })
                .await
        }
        .boxed(),
    );
    reader
}

/// One store per watched namespace (or one cluster-wide).
fn reflect_ns<K>(
    client: &Client,
    namespaces: &[String],
    config: &watcher::Config,
    trigger: &Arc<Notify>,
    tasks: &mut Vec<Task>,
) -> Vec<Store<K>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    if namespaces.is_empty() {
        return vec![reflect(
            Api::all(client.clone()),
            config.clone(),
            trigger,
            tasks,
        )];
    }
    namespaces
        .iter()
        .map(|ns| {
            reflect(
                Api::namespaced(client.clone(), ns),
                config.clone(),
                trigger,
                tasks,
            )
        })
        .collect()
}

/// The objects of `stores`, shared with the stores (no copies).
fn objects<K>(stores: &[Store<K>]) -> Vec<Arc<K>>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    stores.iter().flat_map(|s| s.state()).collect()
}

struct Stores {
    classes: Store<IngressClass>,
    ingresses: Vec<Store<Ingress>>,
    services: Vec<Store<Service>>,
    slices: Vec<Store<EndpointSlice>>,
    secrets: Vec<Store<Secret>>,
    published: Vec<Store<Service>>,
}

impl Stores {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            ingress_classes: objects(std::slice::from_ref(&self.classes)),
            ingresses: objects(&self.ingresses),
            services: objects(&self.services),
            endpoint_slices: objects(&self.slices),
            secrets: objects(&self.secrets),
        }
    }

    async fn wait_ready(&self) {
        let _ = self.classes.wait_until_ready().await;
        for s in &self.ingresses {
            let _ = s.wait_until_ready().await;
        }
        for s in self.services.iter().chain(&self.published) {
            let _ = s.wait_until_ready().await;
        }
        for s in &self.slices {
            let _ = s.wait_until_ready().await;
        }
        for s in &self.secrets {
            let _ = s.wait_until_ready().await;
        }
    }
}

/// Runs the Kubernetes source until the process ends. `leader` is set while this replica
/// holds the election Lease; `feed` receives every published snapshot (for ACME).
pub async fn run_kube(
    client: Client,
    config: KubeSourceConfig,
    mut publisher: Publisher,
    leader: Arc<AtomicBool>,
    feed: Option<AcmeFeed>,
) {
    let trigger = Arc::new(Notify::new());
    let mut tasks: Vec<Task> = Vec::new();
    let ns = &config.namespaces;
    let all = watcher::Config::default();
    let stores = Stores {
        classes: reflect(Api::all(client.clone()), all.clone(), &trigger, &mut tasks),
        ingresses: reflect_ns(&client, ns, &all, &trigger, &mut tasks),
        services: reflect_ns(&client, ns, &all, &trigger, &mut tasks),
        slices: reflect_ns(&client, ns, &all, &trigger, &mut tasks),
        secrets: reflect_ns(
            &client,
            ns,
            &all.clone().fields(TLS_SECRET_SELECTOR),
            &trigger,
            &mut tasks,
        ),
        published: config
            .publish
            .values()
            .filter_map(|s| match s {
                AddressSource::Service(ns, name) => Some((ns, name)),
                AddressSource::Static(_) => None,
            })
            .map(|(ns, name)| {
                let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
                reflect(
                    Api::namespaced(client.clone(), ns),
                    cfg,
                    &trigger,
                    &mut tasks,
                )
            })
            .collect(),
    };

    match &config.election {
        Some(e) => {
            let elector = LeaderElector::new(
                Api::namespaced(client.clone(), &e.namespace),
                &e.lease_name,
                &config.identity,
                e.timings.clone(),
                leader.clone(),
            );
            tasks.push(elector.run().boxed());
        }
        None => leader.store(true, Ordering::SeqCst),
    }
    let watchers = futures::future::join_all(tasks);
    let rebuild = rebuild_loop(
        client,
        config,
        stores,
        trigger,
        leader,
        &mut publisher,
        feed,
    );
    tokio::select! {
        _ = watchers => tracing::error!("all watchers ended"),
        _ = rebuild => {}
    }
}

async fn rebuild_loop(
    client: Client,
    config: KubeSourceConfig,
    stores: Stores,
    trigger: Arc<Notify>,
    leader: Arc<AtomicBool>,
    publisher: &mut Publisher,
    feed: Option<AcmeFeed>,
) {
    tracing::info!("waiting for the initial list of every watched kind");
    stores.wait_ready().await;
    tracing::info!("caches synced");
    let mut status = StatusWriter::new(client.clone());
    let mut events = EventEmitter::new(client, "gatehouse", &config.identity);
    let mut was_leader = false;
    let publish = |snapshot: &Snapshot, publisher: &mut Publisher| {
        let outcome = publisher.publish(snapshot);
        if let Some(feed) = &feed {
            feed.send_replace(Some(Arc::new(Published {
                snapshot: snapshot.clone(),
                members: outcome.members.clone(),
            })));
        }
        outcome
    };
    let mut snapshot = stores.snapshot();
    let mut outcome = publish(&snapshot, publisher);
    loop {
        let is_leader = leader.load(Ordering::SeqCst);
        if is_leader {
            sync_status(&config, &stores, &snapshot, &outcome, &mut status).await;
            events.emit(&outcome.warnings).await;
        } else if was_leader {
            status.reset();
        }
        was_leader = is_leader;

        let changed = tokio::select! {
            _ = trigger.notified() => true,
            _ = tokio::time::sleep(STATUS_RESYNC) => false,
        };
        if changed {
            coalesce(&trigger).await;
            snapshot = stores.snapshot();
            outcome = publish(&snapshot, publisher);
        }
    }
}

async fn sync_status(
    config: &KubeSourceConfig,
    stores: &Stores,
    snapshot: &Snapshot,
    outcome: &PublishOutcome,
    writer: &mut StatusWriter,
) {
    if config.publish.is_empty() {
        return;
    }
    let published = objects(&stores.published);
    let addresses = config
        .publish
        .iter()
        .map(|(class, source)| (class.clone(), status::class_addresses(source, &published)))
        .collect();
    writer
        .apply(status::plan(snapshot, &outcome.members, &addresses))
        .await;
}

async fn coalesce(trigger: &Notify) {
    let deadline = tokio::time::Instant::now() + HOLD_OFF_CAP;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HOLD_OFF) => return,
            _ = tokio::time::sleep_until(deadline) => return,
            _ = trigger.notified() => {}
        }
    }
}
