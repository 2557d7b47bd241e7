//! gatehouse: wires the CLI, the controller thread and one Pingora service per ingress class.

mod cli;
mod demo;

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Parser;
use gatehouse_controller::publish::Publisher;
use gatehouse_controller::sources::watch::watch_manifests;
use gatehouse_controller::{ClassConfig, TranslateConfig};
use gatehouse_proxy::admin::AdminApp;
use gatehouse_proxy::{ClassProxy, Instance, InstanceSet, ListenerSpec};
use pingora::apps::HttpServerOptions;
use pingora::prelude::*;
use pingora::proxy::ProxyServiceBuilder;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;

use cli::{Cli, InstanceArg};

fn main() {
    init_logging();
    if let Err(e) = run(Cli::parse()) {
        tracing::error!("{e:#}");
        std::process::exit(1);
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn run(mut cli: Cli) -> Result<()> {
    if cli.demo {
        apply_demo_defaults(&mut cli)?;
    }
    let Some(manifests) = cli.manifests.clone() else {
        bail!("nothing to watch: give --manifests DIR (or --demo)");
    };
    if !manifests.is_dir() {
        bail!("--manifests {}: not a directory", manifests.display());
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
            })
            .collect(),
    };

    let mut server = Server::new_with_opt_and_conf(None, server_conf(threads));
    server.bootstrap();
    for inst in instances.iter() {
        server.add_service(class_service(&server, inst, threads));
    }
    let mut admin = Service::new("admin".to_string(), AdminApp::new(instances.clone()));
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

    spawn_controller(manifests, Publisher::new(instances.clone(), config))?;
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
            cli::parse_instance("class=internal,http=127.0.0.1:8080,default=true")
                .map_err(anyhow::Error::msg)?,
            cli::parse_instance("class=external,http=127.0.0.1:8081")
                .map_err(anyhow::Error::msg)?,
        ];
    }
    Ok(())
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
) -> impl pingora::services::ServiceWithDependents + 'static {
    let proxy = ClassProxy::new(inst.class.clone(), inst.table().clone());
    let mut options = HttpServerOptions::default();
    options.h2c = true;
    let mut service = ProxyServiceBuilder::new(&server.configuration, proxy)
        .name(format!("gatehouse-{}", inst.class))
        .server_options(options)
        .build();
    if let Some(addr) = &inst.listeners.http {
        service.add_tcp(addr);
    }
    service.threads = Some(threads);
    service
}

/// Runs the manifests watcher on its own thread and runtime, away from the proxy's workers.
fn spawn_controller(dir: std::path::PathBuf, publisher: Publisher) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the controller runtime")?;
    std::thread::Builder::new()
        .name("controller".into())
        .spawn(move || {
            if let Err(e) = runtime.block_on(watch_manifests(dir, publisher)) {
                tracing::error!("controller stopped: {e}");
                std::process::exit(1);
            }
        })
        .context("starting the controller thread")?;
    Ok(())
}
