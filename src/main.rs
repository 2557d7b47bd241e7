//! gatehouse: wires the CLI, the controller thread and one Pingora service per ingress class.

mod cli;
mod demo;
mod observability;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use gatehouse_certs::acme::{AccountStore, FileAccountStore, Issuer};
use gatehouse_certs::default_cert::self_signed;
use gatehouse_certs::ChallengeStore;
use gatehouse_certs::{parse_tls_pair, CertResolver, LoadedCert, MemoryChallenges};
use gatehouse_controller::acme::kube_store::mirror_challenges;
use gatehouse_controller::acme::{AcmeManager, AcmeSettings, CertSink, FileSink, KubeSink};
use gatehouse_controller::events::AcmeEvents;
use gatehouse_controller::leader::LeaseTimings;
use gatehouse_controller::publish::Publisher;
use gatehouse_controller::sources::kube::{run_kube, Election, KubeSourceConfig};
use gatehouse_controller::sources::watch::watch_manifests;
use gatehouse_controller::status::AddressSource;
use gatehouse_controller::{ClassConfig, TranslateConfig};
use gatehouse_proxy::admin::AdminApp;
use gatehouse_proxy::{ClassProxy, Instance, InstanceSet, ListenerSpec, ProxyOptions};
use pingora::apps::HttpServerOptions;
use pingora::listeners::tls::TlsSettings;
use pingora::prelude::*;
use pingora::proxy::ProxyServiceBuilder;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;

use cli::{Cli, InstanceArg};

// Pingora allocates and frees sizeable buffers per request; glibc malloc showed ~12% of a
// request's CPU in profiles, mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    if let Err(e) = run(cli) {
        tracing::error!("{e:#}");
        std::process::exit(1);
    }
}

fn init_logging(format: cli::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Json => logs.json().init(),
        cli::LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

fn run(mut cli: Cli) -> Result<()> {
    if cli.demo {
        apply_demo_defaults(&mut cli)?;
    }
    if let Some(dir) = &cli.manifests {
        if !dir.is_dir() {
            bail!("--manifests {}: not a directory", dir.display());
        }
    }
    if cli.instances.is_empty() {
        bail!("no instance: give at least one --instance class=NAME,http=ADDR");
    }
    let threads = cli
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));

    let instances = Arc::new(InstanceSet::new(
        cli.instances
            .iter()
            .map(|i| Arc::new(instance(i)))
            .collect(),
    ));
    let config = TranslateConfig {
        controller_name: cli.controller_name.clone(),
        classes: cli
            .instances
            .iter()
            .map(|i| ClassConfig {
                name: i.class.clone(),
                is_default: i.default,
                has_https: i.https.is_some(),
            })
            .collect(),
        default_secret: default_secret(&cli)?,
        fallback_cert: Some(fallback_cert(&cli)?),
    };

    let mut server = Server::new_with_opt_and_conf(None, server_conf(threads));
    server.bootstrap();
    let challenges = MemoryChallenges::new();
    let metrics = observability::metrics(&cli)?;
    let mut options = proxy_options(&cli, &challenges)?;
    options.metrics = Some(metrics.clone());
    options.access_log = observability::access_log(cli.access_log);
    for inst in instances.iter() {
        server.add_service(class_service(&server, inst, threads, options.clone())?);
    }
    let publisher = Publisher::new(instances.clone(), config).with_metrics(metrics.clone());
    let admin_app = AdminApp::new(instances.clone())
        .with_metrics(metrics)
        .with_warnings(publisher.warning_source());
    let mut admin = Service::new("admin".to_string(), admin_app);
    admin.add_tcp(&cli.admin);
    admin.threads = Some(1);
    server.add_service(admin);
    if cli.demo {
        let mut backends = Service::new("demo-backends".to_string(), demo::DemoBackend);
        for (_, addr) in demo::BACKENDS {
            backends.add_tcp(addr);
        }
        backends.threads = Some(1);
        server.add_service(backends);
    }

    let source = match cli.manifests.clone() {
        Some(dir) => Source::Manifests(dir),
        None => Source::Kube(Box::new(kube_source(&cli)?)),
    };
    let acme = acme_config(&cli)?;
    spawn_controller(source, publisher, acme, challenges.clone())?;
    for inst in instances.iter() {
        tracing::info!(class = %inst.class, http = ?inst.listeners.http, https = ?inst.listeners.https, default = inst.is_default, "instance");
    }
    tracing::info!(admin = %cli.admin, "gatehouse starting");
    server.run_forever();
}

fn apply_demo_defaults(cli: &mut Cli) -> Result<()> {
    if cli.manifests.is_none() {
        let dir = demo::write_manifests().context("writing the demo manifests")?;
        tracing::info!(dir = %dir.display(), "demo manifests written; edit them and watch the routes change");
        cli.manifests = Some(dir);
    } else if let Some(dir) = &cli.manifests {
        if !demo::has_manifests(dir) {
            tracing::warn!(dir = %dir.display(), "demo: the manifests directory is empty");
        }
    }
    if cli.instances.is_empty() {
        cli.instances = vec![
            cli::parse_instance(
                "class=internal,http=127.0.0.1:8080,https=127.0.0.1:8443,default=true",
            )
            .map_err(anyhow::Error::msg)?,
            cli::parse_instance("class=external,http=127.0.0.1:8081")
                .map_err(anyhow::Error::msg)?,
        ];
    }
    Ok(())
}

fn default_secret(cli: &Cli) -> Result<Option<(String, String)>> {
    let Some(value) = &cli.default_certificate else {
        return Ok(None);
    };
    let checked = cli::check_ns_name(value).map_err(anyhow::Error::msg)?;
    let (ns, name) = checked.split_once('/').unwrap_or_default();
    Ok(Some((ns.to_string(), name.to_string())))
}

/// The certificate served when nothing else matches: from files, else self-signed.
fn fallback_cert(cli: &Cli) -> Result<LoadedCert> {
    if let Some(files) = &cli.default_certificate_files {
        let (cert, key) = files
            .split_once(',')
            .context("--default-certificate-files takes CERT.pem,KEY.pem")?;
        let chain = std::fs::read(cert).with_context(|| format!("reading {cert}"))?;
        let key_pem = std::fs::read(key).with_context(|| format!("reading {key}"))?;
        return parse_tls_pair(&chain, &key_pem)
            .with_context(|| format!("default certificate {cert} / {key}"));
    }
    self_signed("gatehouse default certificate").context("generating the default certificate")
}

fn proxy_options(cli: &Cli, challenges: &MemoryChallenges) -> Result<ProxyOptions> {
    let hsts = if cli.hsts_max_age == 0 {
        None
    } else {
        let mut value = format!("max-age={}", cli.hsts_max_age);
        if cli.hsts_include_subdomains {
            value.push_str("; includeSubDomains");
        }
        Some(http::HeaderValue::from_str(&value).context("HSTS header")?)
    };
    Ok(ProxyOptions {
        hsts,
        challenges: challenges.clone(),
        ..ProxyOptions::default()
    })
}

fn instance(arg: &InstanceArg) -> Instance {
    Instance::new(
        &arg.class,
        ListenerSpec {
            http: arg.http.clone(),
            https: arg.https.clone(),
        },
        arg.default,
    )
}

fn server_conf(threads: usize) -> ServerConf {
    let run_dir = std::env::temp_dir();
    let pid = std::process::id();
    ServerConf {
        threads,
        // Per-process paths so that several gatehouse processes can share a machine.
        pid_file: run_dir
            .join(format!("gatehouse-{pid}.pid"))
            .display()
            .to_string(),
        upgrade_sock: run_dir
            .join(format!("gatehouse-{pid}.sock"))
            .display()
            .to_string(),
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    }
}

fn class_service(
    server: &Server,
    inst: &Arc<Instance>,
    threads: usize,
    options: ProxyOptions,
) -> Result<impl pingora::services::ServiceWithDependents + 'static> {
    let proxy = ClassProxy::new(inst.class.clone(), inst.table().clone(), options);
    let mut options = HttpServerOptions::default();
    options.h2c = true;
    let mut service = ProxyServiceBuilder::new(&server.configuration, proxy)
        .name(format!("gatehouse-{}", inst.class))
        .server_options(options)
        .build();
    if let Some(addr) = &inst.listeners.http {
        service.add_tcp(addr);
    }
    if let Some(addr) = &inst.listeners.https {
        // The resolver reads the instance's swappable certificate set on every handshake.
        let mut tls = TlsSettings::intermediate("", "").context("TLS settings")?;
        tls.set_cert_resolver(Arc::new(CertResolver::new(inst.certs().clone())));
        tls.enable_h2();
        service.add_tls_with_settings(addr, None, tls);
    }
    service.threads = Some(threads);
    Ok(service)
}

/// Where objects come from.
enum Source {
    Manifests(PathBuf),
    Kube(Box<(Option<PathBuf>, KubeSourceConfig)>),
}

fn kube_source(cli: &Cli) -> Result<(Option<PathBuf>, KubeSourceConfig)> {
    let mut publish = BTreeMap::new();
    let global = address_source(cli.publish_service.as_deref(), &cli.publish_addresses)?;
    for inst in &cli.instances {
        let own = address_source(inst.publish_service.as_deref(), &inst.publish_addresses)?;
        if let Some(source) = own.or_else(|| global.clone()) {
            publish.insert(inst.class.clone(), source);
        }
    }
    let identity = identity(cli);
    let config = KubeSourceConfig {
        namespaces: cli.watch_namespaces.clone(),
        publish,
        election: Some(Election {
            namespace: cli.election_namespace.clone(),
            lease_name: cli.election_id.clone(),
            timings: LeaseTimings {
                duration: Duration::from_secs(cli.lease_duration.max(1)),
                renew_every: Duration::from_secs(cli.lease_renew.max(1)),
            },
        }),
        identity,
    };
    Ok((cli.kubeconfig.clone(), config))
}

fn address_source(service: Option<&str>, addresses: &[String]) -> Result<Option<AddressSource>> {
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

async fn kube_client(kubeconfig: Option<PathBuf>) -> Result<kube::Client> {
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

/// ACME settings from the flags, if ACME is on.
struct AcmeConfig {
    directory: String,
    email: Option<String>,
    ca_file: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    identity: String,
    election_namespace: String,
    settings: AcmeSettings,
}

fn acme_config(cli: &Cli) -> Result<Option<AcmeConfig>> {
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
    }))
}

/// This replica's identity: $POD_NAME / --pod-name, else host-pid.
fn identity(cli: &Cli) -> String {
    cli.pod_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "gatehouse".into());
        format!("{host}-{}", std::process::id())
    })
}

/// Account store, certificate sink, challenge store, and a directory to watch for issued Secrets.
type AcmeParts = (
    Arc<dyn AccountStore>,
    Box<dyn CertSink>,
    Arc<dyn ChallengeStore>,
    Option<PathBuf>,
);

/// The ACME loop for the chosen source; `served` is what the proxies answer HTTP-01 from.
fn acme_manager(
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
const ACME_ACCOUNT_SECRET: &str = "gatehouse-acme-account";
/// The ConfigMap holding pending HTTP-01 answers (cluster mode), in gatehouse's namespace.
const ACME_CHALLENGE_CONFIGMAP: &str = "gatehouse-acme-challenges";

/// Runs the controller on its own thread and runtime, away from the proxy's workers.
fn spawn_controller(
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
        Source::Kube(boxed) => {
            let (path, config) = *boxed;
            let client = runtime.block_on(kube_client(path))?;
            Ok((client, config))
        }
        Source::Manifests(dir) => Err(dir),
    };
    let leader = Arc::new(AtomicBool::new(source.is_err()));
    let kube = source.as_ref().ok().map(|(c, _)| c.clone());
    let acme_election_ns = acme.as_ref().map(|a| a.election_namespace.clone());
    let (feed, manager, extra_dirs) = match acme {
        Some(acme) => {
            // The ACME client needs a runtime to exist while it is built.
            let _guard = runtime.enter();
            let (manager, extra) = acme_manager(acme, kube.as_ref(), &served, leader.clone())?;
            let (tx, rx) = tokio::sync::watch::channel(None);
            (Some(tx), Some((manager, rx)), extra.into_iter().collect())
        }
        None => (None, None, Vec::new()),
    };
    std::thread::Builder::new()
        .name("controller".into())
        .spawn(move || {
            runtime.block_on(async move {
                if let Some((manager, rx)) = manager {
                    tokio::spawn(manager.run(rx));
                }
                match source {
                    Err(dir) => {
                        if let Err(e) = watch_manifests(dir, extra_dirs, publisher, feed).await {
                            tracing::error!("controller stopped: {e}");
                            std::process::exit(1);
                        }
                    }
                    Ok((client, config)) => {
                        if let Some(ns) = acme_election_ns {
                            // Every replica mirrors pending HTTP-01 answers, leader or not.
                            tokio::spawn(mirror_challenges(
                                kube::Api::namespaced(client.clone(), &ns),
                                ACME_CHALLENGE_CONFIGMAP.to_string(),
                                served,
                            ));
                        }
                        run_kube(client, config, publisher, leader, feed).await
                    }
                }
            })
        })
        .context("starting the controller thread")?;
    Ok(())
}
