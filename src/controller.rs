//! The controller thread: the chosen source (manifests or Kubernetes) sending snapshots into a
//! watch channel, the one reconcile loop consuming them, leader election, the ACME loop fed by
//! the reconciler, and the runtime they run on, away from the proxy workers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use gatehouse_certs::MemoryChallenges;
use gatehouse_controller::acme::kube_store::mirror_challenges;
use gatehouse_controller::events::EventEmitter;
use gatehouse_controller::leader::{LeaderElector, LeaseTimings};
use gatehouse_controller::publish::Publisher;
use gatehouse_controller::reconcile::{self, Context as Reconciler, HoldOff, ReconcileConfig};
use gatehouse_controller::sources::external_names;
use gatehouse_controller::sources::kube::{run_kube, KubeSourceConfig};
use gatehouse_controller::sources::watch::watch_manifests;
use gatehouse_controller::sources::{self, UpdateReceiver};
use gatehouse_controller::status::{AddressSource, StatusWriter};

use crate::acme::{acme_manager, AcmeConfig, ACME_CHALLENGE_CONFIGMAP};
use crate::cli::{self, Cli};

/// Where objects come from.
pub(crate) enum Source {
    Manifests(PathBuf),
    Kube(Box<KubeSetup>),
}

/// Everything cluster mode needs from the flags.
pub(crate) struct KubeSetup {
    /// --kubeconfig, else the usual inference.
    kubeconfig: Option<PathBuf>,
    /// What the source watches.
    source: KubeSourceConfig,
    /// Where each class's status addresses come from.
    status: BTreeMap<String, AddressSource>,
    /// The Lease that elects the replica writing status, Events and ACME orders.
    election: Election,
    /// This replica's identity (pod name).
    identity: String,
}

/// Lease-based leader election settings.
struct Election {
    namespace: String,
    lease_name: String,
    timings: LeaseTimings,
}

/// The Kubernetes settings from the flags (kubeconfig path, namespaces, status, election).
pub(crate) fn kube_source(cli: &Cli) -> Result<KubeSetup> {
    let mut publish = BTreeMap::new();
    let global = address_source(cli.publish_service.as_deref(), &cli.publish_addresses)?;
    for inst in &cli.instances {
        let own = address_source(inst.publish_service.as_deref(), &inst.publish_addresses)?;
        if let Some(source) = own.or_else(|| global.clone()) {
            publish.insert(inst.class.clone(), source);
        }
    }
    let publish_services = publish
        .values()
        .filter_map(|s| match s {
            AddressSource::Service(ns, name) => Some((ns.clone(), name.clone())),
            AddressSource::Static(_) => None,
        })
        .collect();
    Ok(KubeSetup {
        kubeconfig: cli.kubeconfig.clone(),
        source: KubeSourceConfig {
            namespaces: cli.watch_namespaces.clone(),
            publish_services,
        },
        status: publish,
        election: Election {
            namespace: cli.election_namespace.clone(),
            lease_name: cli.election_id.clone(),
            timings: LeaseTimings {
                duration: Duration::from_secs(cli.lease_duration.max(1)),
                renew_every: Duration::from_secs(cli.lease_renew.max(1)),
            },
        },
        identity: identity(cli),
    })
}

/// Where a class's status addresses come from: a Service, fixed addresses, or nowhere.
pub(crate) fn address_source(
    service: Option<&str>,
    addresses: &[String],
) -> Result<Option<AddressSource>> {
    if let Some(s) = service {
        let checked = cli::check_ns_name(s).map_err(anyhow::Error::msg)?;
        let (ns, name) = checked.split_once('/').unwrap_or_default();
        return Ok(Some(AddressSource::Service(
            ns.to_string(),
            name.to_string(),
        )));
    }
    if addresses.is_empty() {
        return Ok(None);
    }
    Ok(Some(AddressSource::Static(addresses.to_vec())))
}

/// A client from --kubeconfig, else the usual inference (in-cluster, KUBECONFIG, ~/.kube/config).
pub(crate) async fn kube_client(kubeconfig: Option<PathBuf>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(&path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no cluster configuration found (in-cluster service account, KUBECONFIG or ~/.kube/config); give --kubeconfig or --manifests")?,
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

/// This replica's identity: $POD_NAME / --pod-name, else host-pid.
pub(crate) fn identity(cli: &Cli) -> String {
    cli.pod_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "gatehouse".into());
        format!("{host}-{}", std::process::id())
    })
}

/// Runs the controller on its own thread and runtime, away from the proxy's workers.
pub(crate) fn spawn_controller(
    source: Source,
    publisher: Publisher,
    acme: Option<AcmeConfig>,
    served: MemoryChallenges,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the controller runtime")?;
    // Connect before serving so that a bad kubeconfig fails the start with a clear error.
    let source = match source {
        Source::Kube(setup) => {
            let client = runtime.block_on(kube_client(setup.kubeconfig.clone()))?;
            Ok((client, setup))
        }
        Source::Manifests(dir) => Err(dir),
    };
    // Manifests mode has no other replica to defer to; cluster mode waits for the Lease.
    let leader = Arc::new(AtomicBool::new(source.is_err()));
    let kube = source.as_ref().ok().map(|(c, _)| c.clone());
    let acme_election_ns = acme.as_ref().map(|a| a.election_namespace.clone());
    let mut reconciler = Reconciler::new(publisher, leader.clone())
        .with_after_publish(crate::memory::return_free_memory);
    let (manager, extra_dirs) = match acme {
        Some(acme) => {
            // The ACME client needs a runtime to exist while it is built.
            let _guard = runtime.enter();
            let (manager, extra) = acme_manager(acme, kube.as_ref(), &served, leader.clone())?;
            let (tx, rx) = tokio::sync::watch::channel(None);
            reconciler = reconciler.with_acme(tx);
            (Some((manager, rx)), extra.into_iter().collect())
        }
        None => (None, Vec::new()),
    };
    std::thread::Builder::new()
        .name("controller".into())
        .spawn(move || {
            runtime.block_on(async move {
                if let Some((manager, rx)) = manager {
                    tokio::spawn(manager.run(rx));
                }
                let (updates, from_source) = sources::channel();
                // ExternalName Services' names are resolved between source and reconciler.
                let (resolved, received) = sources::channel();
                tokio::spawn(external_names::run(
                    from_source,
                    resolved,
                    external_names::REFRESH_INTERVAL,
                ));
                match source {
                    Err(dir) => {
                        let config = ReconcileConfig::new(HoldOff::MANIFESTS);
                        let reconciling =
                            tokio::spawn(reconcile::run(received, reconciler, config));
                        if let Err(e) = watch_manifests(dir, extra_dirs, updates).await {
                            tracing::error!("controller stopped: {e}");
                            std::process::exit(1);
                        }
                        let _ = reconciling.await;
                    }
                    Ok((client, setup)) => {
                        if let Some(ns) = acme_election_ns {
                            // Every replica mirrors pending HTTP-01 answers, leader or not.
                            tokio::spawn(mirror_challenges(
                                kube::Api::namespaced(client.clone(), &ns),
                                ACME_CHALLENGE_CONFIGMAP.to_string(),
                                served,
                            ));
                        }
                        run_cluster(client, *setup, reconciler, leader, updates, received).await
                    }
                }
            })
        })
        .context("starting the controller thread")?;
    Ok(())
}

/// Cluster mode: leader election, the Kubernetes source, and the reconciler writing status and
/// Events while this replica leads.
async fn run_cluster(
    client: kube::Client,
    setup: KubeSetup,
    reconciler: Reconciler,
    leader: Arc<AtomicBool>,
    updates: sources::UpdateSender,
    received: UpdateReceiver,
) {
    let KubeSetup {
        source,
        status,
        election,
        identity,
        ..
    } = setup;
    let elector = LeaderElector::new(
        kube::Api::namespaced(client.clone(), &election.namespace),
        &election.lease_name,
        &identity,
        election.timings,
        leader,
    );
    tokio::spawn(elector.run());
    let reconciler = reconciler
        .with_status(StatusWriter::new(client.clone()), status)
        .with_events(EventEmitter::new(client.clone(), "gatehouse", &identity));
    tokio::spawn(run_kube(client, source, updates));
    reconcile::run(received, reconciler, ReconcileConfig::new(HoldOff::KUBE)).await
}
