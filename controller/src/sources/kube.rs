//! The Kubernetes source: kube-rs watchers feeding reflector stores for every kind gatehouse
//! reads, and one trigger that any watch event pulls. It only caches and sends
//! [`SourceUpdate`]s: the first once every store has listed, then one after each watch event.
//! Translation, publishing, status, Events and ACME are the reconciler's ([`crate::reconcile`]).

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

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

use super::named_secrets::{self, NamedSecretWatchers};
use super::object_store::ObjectStore;
use super::{SourceUpdate, UpdateSender};
use crate::snapshot::{EndpointSliceInfo, ServiceInfo, Snapshot};

/// Only TLS Secrets are ever requested, so other secrets never reach this process.
pub const TLS_SECRET_SELECTOR: &str = "type=kubernetes.io/tls";

/// What the Kubernetes source watches.
#[derive(Clone, Debug, Default)]
pub struct KubeSourceConfig {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// LoadBalancer Services (`namespace`, `name`) whose addresses Ingress status publishes.
    pub publish_services: Vec<(String, String)>,
}

/// How long a newly named Secret's first list may hold up the next picture.
const NAMED_SECRET_LIST_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Watch events closer together than this make one picture: building one is a pass over every
/// object, and while a large cluster is listed or rolled out events arrive far faster than
/// pictures can be built (at 50k Ingresses the source rebuilt them back to back and starved the
/// translation). The reconciler's hold-off still decides when to translate.
const EVENT_QUIET: std::time::Duration = std::time::Duration::from_millis(5);

/// A steady stream of events still gets a new picture this often.
const EVENT_CAP: std::time::Duration = std::time::Duration::from_millis(100);

/// Waits for the next watch event, then until events stop for [`EVENT_QUIET`] (at most
/// [`EVENT_CAP`] after the first).
async fn next_events(trigger: &Notify) {
    trigger.notified().await;
    let cap = tokio::time::Instant::now() + EVENT_CAP;
    loop {
        let quiet = (tokio::time::Instant::now() + EVENT_QUIET).min(cap);
        if tokio::time::timeout_at(quiet, trigger.notified())
            .await
            .is_err()
        {
            return;
        }
    }
}

type Task = BoxFuture<'static, ()>;

/// The task that drives a watch stream: each event goes to `apply`, then pulls `trigger`.
fn drive<K>(
    stream: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    trigger: &Arc<Notify>,
    mut apply: impl FnMut(watcher::Event<K>) + Send + 'static,
) -> Task
where
    K: Resource + Send + 'static,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let trigger = trigger.clone();
    async move {
        stream
            .for_each(|event| {
                match event {
                    Ok(event) => {
                        apply(event);
                        trigger.notify_one();
                    }
                    Err(e) => tracing::warn!(
                        kind,
                        "watch failed, retrying with backoff (is the API server reachable, and does RBAC allow list/watch?): {e}"
                    ),
                }
                futures::future::ready(())
            })
            .await
    }
    .boxed()
}

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
    let stream = watcher(api, config)
        .default_backoff()
        .modify(|o: &mut K| crate::snapshot::strip_unused(o.meta_mut()))
        .reflect(writer);
    tasks.push(drive(stream, trigger, |_| {}));
    reader
}

/// Starts a watcher for `K` feeding a store of `convert` of each object (what gatehouse keeps
/// of it); the driving task goes to `tasks`.
fn watch_into<K, T>(
    api: Api<K>,
    config: watcher::Config,
    trigger: &Arc<Notify>,
    tasks: &mut Vec<Task>,
    convert: fn(K) -> T,
) -> ObjectStore<T>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
    T: super::object_store::Named + Send + Sync + 'static,
{
    let store = ObjectStore::default();
    let writer = store.clone();
    let stream = watcher(api, config).default_backoff();
    tasks.push(drive(stream, trigger, move |event| {
        writer.apply(event, convert)
    }));
    store
}

/// [`watch_into`] every watched namespace (or the whole cluster): one store each.
fn watch_namespaces<K, T>(
    client: &Client,
    namespaces: &[String],
    trigger: &Arc<Notify>,
    tasks: &mut Vec<Task>,
    convert: fn(K) -> T,
) -> Vec<ObjectStore<T>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default,
    T: super::object_store::Named + Send + Sync + 'static,
{
    let config = watcher::Config::default();
    namespaced_apis(client, namespaces)
        .into_iter()
        .map(|api| watch_into(api, config.clone(), trigger, tasks, convert))
        .collect()
}

/// The Apis of `K` to watch: one per watched namespace (or one cluster-wide).
fn namespaced_apis<K>(client: &Client, namespaces: &[String]) -> Vec<Api<K>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    if namespaces.is_empty() {
        return vec![Api::all(client.clone())];
    }
    namespaces
        .iter()
        .map(|ns| Api::namespaced(client.clone(), ns))
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

/// The objects of `stores`, shared with the stores.
fn kept_objects<T: super::object_store::Named>(stores: &[ObjectStore<T>]) -> Vec<Arc<T>> {
    stores.iter().flat_map(|s| s.state()).collect()
}

/// `object` without what gatehouse never reads (see [`crate::snapshot::strip_unused`]).
fn stripped<K: Resource>(mut object: K) -> K {
    crate::snapshot::strip_unused(object.meta_mut());
    object
}

struct Stores {
    classes: Store<IngressClass>,
    ingresses: Vec<ObjectStore<Ingress>>,
    services: Vec<ObjectStore<ServiceInfo>>,
    slices: Vec<ObjectStore<EndpointSliceInfo>>,
    secrets: Vec<Store<Secret>>,
    published: Vec<Store<Service>>,
}

impl Stores {
    /// The current picture; `named_secrets` are the Secrets Ingresses name (`auth-secret`,
    /// `proxy-ssl-secret`), watched by name.
    fn update(&self, named_secrets: Vec<Arc<Secret>>) -> SourceUpdate {
        let mut secrets = objects(&self.secrets);
        secrets.extend(named_secrets);
        SourceUpdate {
            snapshot: Arc::new(Snapshot {
                ingress_classes: objects(std::slice::from_ref(&self.classes)),
                ingresses: kept_objects(&self.ingresses),
                services: kept_objects(&self.services),
                endpoint_slices: kept_objects(&self.slices),
                secrets,
                external_names: Default::default(),
            }),
            publish_services: objects(&self.published),
        }
    }

    async fn wait_ready(&self) {
        let _ = self.classes.wait_until_ready().await;
        for s in &self.ingresses {
            s.wait_until_ready().await;
        }
        for s in &self.published {
            let _ = s.wait_until_ready().await;
        }
        for s in &self.services {
            s.wait_until_ready().await;
        }
        for s in &self.slices {
            s.wait_until_ready().await;
        }
        for s in &self.secrets {
            let _ = s.wait_until_ready().await;
        }
    }
}

/// Runs the Kubernetes source until the watchers end or nobody receives `updates`. Nothing is
/// sent before every store has listed once, so the first picture is complete (that is what
/// makes `/readyz` mean "complete tables").
pub async fn run_kube(client: Client, config: KubeSourceConfig, updates: UpdateSender) {
    let trigger = Arc::new(Notify::new());
    let mut tasks: Vec<Task> = Vec::new();
    let ns = &config.namespaces;
    let all = watcher::Config::default();
    let tls = all.clone().fields(TLS_SECRET_SELECTOR);
    let stores = Stores {
        classes: reflect(Api::all(client.clone()), all.clone(), &trigger, &mut tasks),
        ingresses: watch_namespaces(&client, ns, &trigger, &mut tasks, stripped),
        services: watch_namespaces(&client, ns, &trigger, &mut tasks, |s: Service| {
            ServiceInfo::from_api(&s)
        }),
        slices: watch_namespaces(&client, ns, &trigger, &mut tasks, |s: EndpointSlice| {
            EndpointSliceInfo::from_api(&s)
        }),
        secrets: namespaced_apis(&client, ns)
            .into_iter()
            .map(|api| reflect(api, tls.clone(), &trigger, &mut tasks))
            .collect(),
        published: config
            .publish_services
            .iter()
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
    let watchers = futures::future::join_all(tasks);
    let mut named = NamedSecretWatchers::new(client.clone(), trigger.clone());
    let send = async {
        tracing::info!("waiting for the initial list of every watched kind");
        stores.wait_ready().await;
        // The Secrets the Ingresses name (auth-secret, proxy-ssl-secret), each watched by name.
        named.sync(&named_secrets::referenced(
            &kept_objects(&stores.ingresses),
            ns,
        ));
        named.wait_ready().await;
        tracing::info!("caches synced");
        // The reconciler coalesces bursts; each event here only replaces the latest picture.
        while !updates.is_closed() {
            if named.sync(&named_secrets::referenced(
                &kept_objects(&stores.ingresses),
                ns,
            )) {
                // A newly named Secret is listed before the picture that needs it is sent (a
                // route is refused until then); bounded, so a Secret that cannot be listed
                // does not hold up everything else.
                let _ = tokio::time::timeout(NAMED_SECRET_LIST_WAIT, named.wait_ready()).await;
            }
            updates.send_replace(Some(Arc::new(stores.update(named.secrets()))));
            next_events(&trigger).await;
        }
    };
    tokio::select! {
        _ = watchers => tracing::error!("all watchers ended"),
        _ = send => {}
    }
}
