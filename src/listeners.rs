//! The proxy side: one Pingora service per instance with its listeners, TLS settings and
//! options.

use std::sync::Arc;

use anyhow::{Context, Result};
use gatehouse_certs::default_cert::self_signed;
use gatehouse_certs::{parse_tls_pair, CertResolver, LoadedCert, MemoryChallenges};
use gatehouse_proxy::{
    ClassApp, ClassProxy, Instance, Limits, ListenerSpec, PreTlsProxyProtocol, ProxyOptions,
};
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::ListenerConfig;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;

use crate::cli::{self, Cli, InstanceArg};

/// `--default-certificate NS/NAME` split into namespace and name.
pub(crate) fn default_secret(cli: &Cli) -> Result<Option<(String, String)>> {
    let Some(value) = &cli.default_certificate else {
        return Ok(None);
    };
    let checked = cli::check_ns_name(value).map_err(anyhow::Error::msg)?;
    let (ns, name) = checked.split_once('/').unwrap_or_default();
    Ok(Some((ns.to_string(), name.to_string())))
}

/// The certificate served when nothing else matches: from files, else self-signed.
pub(crate) fn fallback_cert(cli: &Cli) -> Result<LoadedCert> {
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

/// Options shared by every instance: HSTS, the ACME challenge answers, the lean loop.
pub(crate) fn proxy_options(cli: &Cli, challenges: &MemoryChallenges) -> Result<ProxyOptions> {
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
        lean_forwarding: cli.lean_forwarding,
        ..ProxyOptions::default()
    })
}

/// The instance value for one `--instance` flag.
pub(crate) fn instance(arg: &InstanceArg) -> Instance {
    Instance::new(
        &arg.class,
        ListenerSpec {
            http: arg.http.clone(),
            https: arg.https.clone(),
        },
        arg.default,
    )
}

/// Pingora server settings: worker threads, per-process runtime paths, and how long requests in
/// flight may finish after the listeners close (`grace`, whole seconds, rounded up).
pub(crate) fn server_conf(threads: usize, grace: std::time::Duration) -> ServerConf {
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
        grace_period_seconds: Some(grace.as_secs() + u64::from(grace.subsec_nanos() > 0)),
        // What is still running after the grace period is cut off after one more second.
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    }
}

/// Pingora's per-connection read buffer defaults to 64 KiB, allocated at accept and held for
/// the connection's life: most of the memory of an idle or half-open connection. gatehouse
/// reads the head into the session's own buffer and bodies into theirs, so it reads unbuffered.
fn buffers() -> L4BufferSettings {
    L4BufferSettings::new(0, 1460)
}

/// The Pingora service of one instance, with its HTTP and HTTPS listeners, behind the
/// connection guard that applies the instance's `limits`.
pub(crate) fn class_service(
    inst: &Arc<Instance>,
    threads: usize,
    grace: std::time::Duration,
    options: ProxyOptions,
    limits: Arc<Limits>,
) -> Result<Service<ClassApp>> {
    let metrics = options.metrics.clone();
    let proxy = ClassProxy::new(
        inst.class.clone(),
        inst.table().clone(),
        options,
        limits.clone(),
    );
    let proxy_protocol = limits.proxy_protocol.then(|| {
        Arc::new(PreTlsProxyProtocol::new(
            limits.clone(),
            &inst.class,
            metrics.clone(),
        ))
    });
    // The instance's own server settings: Pingora sizes the upstream keep-alive pool from
    // them (its default, 128 per thread, made a 256-connection load open a new upstream
    // connection for one request in seven).
    let conf = Arc::new(ServerConf {
        upstream_keepalive_pool_size: limits.upstream_keepalive_connections,
        ..server_conf(threads, grace)
    });
    let app = ClassApp::new(&conf, proxy, limits, metrics);
    let mut service = Service::new(format!("gatehouse-{}", inst.class), app);
    if let Some(callback) = proxy_protocol {
        // Pingora runs it on TLS listeners only, before the handshake (the PROXY header comes
        // before the ClientHello); on plain listeners the connection guard reads the header.
        service.endpoints().set_pre_tls_callback(callback);
    }
    if let Some(addr) = &inst.listeners.http {
        service.add_listener(ListenerConfig::tcp(addr).l4_buffer(buffers()));
    }
    if let Some(addr) = &inst.listeners.https {
        // The resolver reads the instance's swappable certificate set on every handshake.
        let mut tls = TlsSettings::intermediate("", "").context("TLS settings")?;
        tls.set_cert_resolver(Arc::new(CertResolver::new(inst.certs().clone())));
        tls.enable_h2();
        service.add_listener(ListenerConfig::tcp(addr).tls(tls).l4_buffer(buffers()));
    }
    service.threads = Some(threads);
    Ok(service)
}
