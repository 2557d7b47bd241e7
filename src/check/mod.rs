//! `gatehouse check`: what of an ingress-nginx setup carries over to gatehouse, read from
//! manifests or a cluster and classified by the annotation catalog.

pub mod compat;
pub mod input;
pub mod output;
pub mod report;

use std::path::PathBuf;

use anyhow::{Context, Result};

use output::OutputFormat;

/// Exit code when something unsupported changes routing or access control.
pub const EXIT_BLOCKING: i32 = 2;
/// Exit code when an input cannot be read or parsed.
pub const EXIT_ERROR: i32 = 1;

/// `gatehouse check`'s flags.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Read Ingresses (and Services) from this directory of YAML manifests, recursively
    /// (repeatable). Without --manifests or -f, they are listed from the cluster.
    #[arg(long, value_name = "DIR")]
    pub manifests: Vec<PathBuf>,

    /// Read Ingresses (and Services) from this YAML file, multi-document (repeatable; `-` is
    /// stdin; a directory is read like --manifests).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Kubeconfig for the cluster (otherwise KUBECONFIG, ~/.kube/config or the in-cluster
    /// service account). Ingresses of every namespace and every class are checked.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// ingress-nginx's controller ConfigMap (YAML): its keys are mapped to gatehouse flags.
    #[arg(long, value_name = "FILE")]
    pub nginx_configmap: Option<PathBuf>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Print docs/compatibility.md, generated from the catalogs, and exit.
    #[arg(long, hide = true)]
    pub print_compatibility_table: bool,
}

/// Runs the check and returns the process's exit code: 0, [`EXIT_BLOCKING`] or
/// [`EXIT_ERROR`] (the error is printed on stderr).
pub fn main(args: CheckArgs) -> i32 {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gatehouse check: error: {e:#}");
            EXIT_ERROR
        }
    }
}

fn run(args: CheckArgs) -> Result<i32> {
    if args.print_compatibility_table {
        print!("{}", compat::markdown());
        return Ok(0);
    }
    let inputs = if args.files.is_empty() && args.manifests.is_empty() {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?
            .block_on(input::from_cluster(args.kubeconfig.clone()))?
    } else {
        input::from_files(&args.files, &args.manifests)?
    };
    let configmap = match &args.nginx_configmap {
        Some(path) => {
            let (name, data) = input::configmap(path)?;
            Some(report::check_configmap(&data, &name))
        }
        None => None,
    };
    let ingresses = inputs
        .ingresses
        .iter()
        .map(|(ing, source)| report::check_ingress(ing, &inputs.external_names, source.as_deref()))
        .collect();
    let report = report::Report::new(ingresses, configmap);
    let text = output::render(&report, args.output).context("writing the report")?;
    print!("{text}");
    Ok(if report.blocking { EXIT_BLOCKING } else { 0 })
}
