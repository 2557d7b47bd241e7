//! gatehouse: wires the CLI, the controller thread and one Pingora service per ingress class.

mod acme;
mod check;
mod cli;
mod controller;
mod demo;
mod drain;
mod limits;
mod listeners;
mod memory;
mod observability;
mod sockets;
mod tables;

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use gatehouse_certs::MemoryChallenges;
use gatehouse_controller::publish::Publisher;
use gatehouse_controller::{ClassConfig, TranslateConfig};
use gatehouse_proxy::admin::AdminApp;
use gatehouse_proxy::InstanceSet;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;

use acme::acme_config;
use cli::Cli;
use controller::{kube_source, spawn_controller, Source};
use listeners::{
    class_service, default_secret, fallback_cert, instance, proxy_options, server_conf,
};
use sockets::PreBound;

// Pingora allocates and frees sizeable buffers per request; glibc malloc showed ~12% of a
// request's CPU in profiles, mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    memory::without_huge_pages();
    let mut cli = cli::parse();
    init_logging(cli.log_format);
    if let Some(cli::Command::Check(args)) = cli.command.take() {
        std::process::exit(check::main(args));
    }
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
    let limits = cli
        .instances
        .iter()
        .map(|i| {
            limits::effective(&cli.limits, &i.limits)
                .map(Arc::new)
                .map_err(|e| anyhow::anyhow!("instance {}: {e}", i.class))
        })
        .collect::<Result<Vec<_>>>()?;
    let global_auth = cli.global_auth().map_err(|e| anyhow::anyhow!(e))?;
    if cli.check_config {
        fallback_cert(&cli)?;
        default_secret(&cli)?;
        println!("{}", effective_config(&cli, &limits));
        return Ok(());
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
        unsupported_annotations: cli.unsupported_annotations.into(),
        global_auth,
    };

    let conf = ServerConf {
        work_stealing: cli.work_stealing,
        ..server_conf(threads, cli.shutdown_grace)
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let challenges = MemoryChallenges::new();
    let metrics = observability::metrics(&cli)?;
    let mut options = proxy_options(&cli, &challenges)?;
    options.metrics = Some(metrics.clone());
    options.access_log = observability::access_log(&cli);
    let access_log = options.access_log.clone();
    for (inst, limits) in instances.iter().zip(&limits) {
        server.add_service(PreBound::new(class_service(
            inst,
            threads,
            cli.shutdown_grace,
            options.clone(),
            limits.clone(),
        )?)?);
    }
    let publisher = Publisher::new(Arc::new(tables::Instances(instances.clone())), config)
        .with_metrics(metrics.clone());
    let admin_app = AdminApp::new(instances.clone())
        .with_metrics(metrics.clone())
        .with_warnings(Arc::new(tables::ReportWarnings(publisher.report())));
    let mut admin = Service::new("admin".to_string(), admin_app);
    admin.add_tcp(&cli.admin);
    admin.threads = Some(1);
    server.add_service(PreBound::new(admin)?);
    if cli.demo {
        let mut backends = Service::new("demo-backends".to_string(), demo::DemoBackend);
        for (_, addr) in demo::BACKENDS {
            backends.add_tcp(addr);
        }
        backends.threads = Some(1);
        server.add_service(PreBound::new(backends)?);
    }

    let source = match cli.manifests.clone() {
        Some(dir) => Source::Manifests(dir),
        None => Source::Kube(Box::new(kube_source(&cli)?)),
    };
    let acme = acme_config(&cli)?.map(|mut a| {
        a.metrics = Some(metrics.clone());
        a
    });
    spawn_controller(source, publisher, acme, challenges.clone())?;
    for inst in instances.iter() {
        tracing::info!(class = %inst.class, http = ?inst.listeners.http, https = ?inst.listeners.https, default = inst.is_default, "instance");
    }
    tracing::info!(admin = %cli.admin, "gatehouse starting");
    server.run(pingora::server::RunArgs {
        shutdown_signal: Box::new(drain::DrainingShutdown {
            instances,
            delay: cli.shutdown_delay,
        }),
    });
    // `exit` runs no destructors: the lines still buffered are written now.
    if let Some(log) = access_log {
        if !log.flush(std::time::Duration::from_secs(5)) {
            tracing::warn!("access log: buffered lines not written within 5s of shutdown");
        }
    }
    std::process::exit(0)
}

/// `--check-config`'s output: the instances with their effective limits, and the process-wide
/// settings that shape serving.
fn effective_config(cli: &Cli, limits: &[Arc<gatehouse_proxy::Limits>]) -> String {
    use clap::ValueEnum;
    use gatehouse_controller::translate::annotations::values::{format_duration, format_size};
    let instances: Vec<serde_json::Value> = cli
        .instances
        .iter()
        .zip(limits)
        .map(|(i, l)| {
            serde_json::json!({
                "class": i.class,
                "http": i.http,
                "https": i.https,
                "default": i.default,
                "publish-service": i.publish_service,
                "publish-addresses": i.publish_addresses,
                "limits": limits::describe(l),
            })
        })
        .collect();
    let config = serde_json::json!({
        "instances": instances,
        "admin": cli.admin,
        "source": match &cli.manifests {
            Some(dir) => format!("manifests:{}", dir.display()),
            None if cli.demo => "demo (embedded manifests)".to_string(),
            None => "kubernetes".to_string(),
        },
        "controller-name": cli.controller_name,
        "unsupported-annotations": cli
            .unsupported_annotations
            .to_possible_value()
            .map(|v| v.get_name().to_string()),
        "work-stealing": cli.work_stealing,
        "lean-forwarding": cli.lean_forwarding,
        "shutdown-delay": format_duration(cli.shutdown_delay),
        "shutdown-grace": format_duration(cli.shutdown_grace),
        "access-log-buffer": format_size(cli.access_log_buffer as u64),
        "access-log-flush": format_duration(cli.access_log_flush),
        "threads": cli.threads,
        "acme-directory": cli.acme_directory,
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

fn apply_demo_defaults(cli: &mut Cli) -> Result<()> {
    if cli.manifests.is_none() && !cli.check_config {
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
