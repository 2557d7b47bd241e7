//! Command-line flags.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser};
use std::sync::Arc;

use gatehouse_controller::translate::annotations::forward_auth::{
    self, AuthSettings, GlobalAuth, DEFAULT_NO_AUTH_LOCATIONS,
};
use gatehouse_controller::translate::annotations::UnsupportedAnnotations;
use gatehouse_controller::translate::DEFAULT_CONTROLLER_NAME;

/// gatehouse: a Kubernetes ingress controller on Pingora.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A one-off command instead of running the controller.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Read Ingresses, Services, EndpointSlices, IngressClasses and TLS Secrets from this
    /// directory of YAML manifests (watched; changes apply without a restart).
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,

    /// An instance serving one ingress class:
    /// `class=NAME,http=ADDR[,https=ADDR][,default=true][,SETTING=VALUE…]`, where SETTING is
    /// any of the limit flags below (`keep-alive=1h`), for this instance only. Repeatable.
    #[arg(long = "instance", value_name = "SPEC", value_parser = parse_instance)]
    pub instances: Vec<InstanceArg>,

    /// Admin listener: /healthz, /readyz.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9090")]
    pub admin: String,

    /// Access log on stdout: one JSON line per request (`json`) or none (`off`).
    #[arg(long, value_name = "off|json", default_value = "json")]
    pub access_log: gatehouse_proxy::metrics::AccessLogFormat,

    /// Access log bytes buffered before they are written at once (nginx's `access_log …
    /// buffer=`; 0: every line is handed to the writer at once). Up to 1m.
    #[arg(long, value_name = "SIZE", default_value = "64k", value_parser = parse_log_buffer)]
    pub access_log_buffer: usize,

    /// Longest an access log line waits in the buffer before it is written (nginx's
    /// `access_log … flush=`; 0: at once). Up to 1m.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_log_flush)]
    pub access_log_flush: std::time::Duration,

    /// Format of gatehouse's own logs on stderr (level from RUST_LOG, default info).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Also export metrics under another controller's names so its dashboards work unchanged
    /// (controller_namespace/controller_pod labels from $POD_NAMESPACE/$POD_NAME).
    #[arg(long, value_enum, value_name = "NAME")]
    pub metrics_compat: Option<MetricsCompat>,

    /// IngressClasses whose spec.controller differs from this are left alone.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_CONTROLLER_NAME)]
    pub controller_name: String,

    /// What an Ingress gets when an annotation asks for access control gatehouse does not
    /// implement (auth-url, auth-type: digest, auth-tls-*, …): `fail-closed` answers 503 on
    /// all its routes; `ignore` serves it without the check. Both warn.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = UnsupportedMode::FailClosed)]
    pub unsupported_annotations: UnsupportedMode,

    /// External authentication for every Ingress without its own `auth-url` (ingress-nginx's
    /// `global-auth-url`): an http(s) URL, nginx variables allowed. An Ingress opts out with
    /// `enable-global-auth: "false"`. The other `--global-auth-*` flags take the values of the
    /// annotations of the same names.
    #[arg(long, value_name = "URL")]
    pub global_auth_url: Option<String>,

    /// The global auth subrequest's method (default: the request's own).
    #[arg(long, value_name = "METHOD", requires = "global_auth_url")]
    pub global_auth_method: Option<String>,

    /// Where a 401 from the global auth service redirects (`?rd=` with the original URL is
    /// added unless the URL sets it).
    #[arg(long, value_name = "URL", requires = "global_auth_url")]
    pub global_auth_signin: Option<String>,

    /// The sign-in URL's parameter that carries the original URL (default `rd`).
    #[arg(long, value_name = "NAME", requires = "global_auth_url")]
    pub global_auth_signin_redirect_param: Option<String>,

    /// Headers of the global auth answer set on the upstream request (comma-separated).
    #[arg(long, value_name = "HEADERS", requires = "global_auth_url")]
    pub global_auth_response_headers: Option<String>,

    /// The global auth subrequest's `X-Auth-Request-Redirect` (default `$request_uri`).
    #[arg(long, value_name = "VALUE", requires = "global_auth_url")]
    pub global_auth_request_redirect: Option<String>,

    /// `proxy_set_header NAME VALUE;` lines for the global auth subrequest.
    #[arg(long, value_name = "SNIPPET", requires = "global_auth_url")]
    pub global_auth_snippet: Option<String>,

    /// `true`: the global auth answer's `Set-Cookie` goes on every response.
    #[arg(long, value_name = "BOOL", requires = "global_auth_url")]
    pub global_auth_always_set_cookie: Option<String>,

    /// Route paths under these prefixes (comma-separated) are exempt from the global auth URL.
    #[arg(long, value_name = "PATHS", default_value = DEFAULT_NO_AUTH_LOCATIONS)]
    pub no_auth_locations: String,

    /// On SIGTERM, /readyz answers 503 at once and the listeners keep serving this long (so the
    /// pod's removal from its Service's endpoints reaches every node) before they close.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_delay: std::time::Duration,

    /// After the listeners close, requests in flight get this long to finish before the process
    /// exits (it waits the whole time; Kubernetes' terminationGracePeriodSeconds must exceed
    /// --shutdown-delay plus this).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: std::time::Duration,

    /// Worker threads per instance (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// `false` (the default): each worker thread runs the connections it is given to the end,
    /// on a scheduler of its own, as nginx's workers do; `true` (Pingora's default): an
    /// instance's threads share one scheduler and take over each other's tasks. The shared
    /// scheduler keeps at most 256 ready tasks per thread and moves the rest to a queue it
    /// serves seldom; HTTP/2 runs a task per stream, so from a few hundred streams in flight
    /// their latency and the CPU per request grow (docs/benchmarks/notes.md).
    #[arg(long, value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set)]
    pub work_stealing: bool,

    /// `true` (the default): a request without a body to a plain HTTP/1.1 backend is forwarded
    /// by gatehouse's own lean loop on Pingora's sessions; every other request, and all of them
    /// with `false`, by Pingora's generic proxy loop. Both apply the same routes, policies,
    /// headers, retries and errors; the lean loop costs less CPU per request
    /// (docs/benchmarks/notes.md).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub lean_forwarding: bool,

    /// Path of a kubeconfig file (otherwise KUBECONFIG, ~/.kube/config, or the in-cluster
    /// service account, whichever is found first). Used when --manifests is not given.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Only watch this namespace (repeatable; default: all namespaces).
    #[arg(long = "watch-namespace", value_name = "NS")]
    pub watch_namespaces: Vec<String>,

    /// Ingress status addresses come from this Service's status.loadBalancer.ingress
    /// (`NAMESPACE/NAME`), for instances without their own publish-service/publish-address.
    #[arg(long, value_name = "NS/NAME")]
    pub publish_service: Option<String>,

    /// Ingress status addresses are these IPs or hostnames (repeatable), for instances without
    /// their own.
    #[arg(long = "publish-address", value_name = "IP|HOSTNAME")]
    pub publish_addresses: Vec<String>,

    /// Name of the Lease used for leader election.
    #[arg(long, value_name = "NAME", default_value = "gatehouse-leader")]
    pub election_id: String,

    /// Namespace of the election Lease (default: $POD_NAMESPACE, else `default`).
    #[arg(
        long,
        value_name = "NS",
        env = "POD_NAMESPACE",
        default_value = "default"
    )]
    pub election_namespace: String,

    /// Seconds a leader's lease lasts without renewal; a new leader takes over after this.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub lease_duration: u64,

    /// Seconds between lease renewals (and follower retries).
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    pub lease_renew: u64,

    /// This replica's identity in the Lease and in Events (default: $POD_NAME, else host-pid).
    #[arg(long, value_name = "NAME", env = "POD_NAME")]
    pub pod_name: Option<String>,

    /// TLS Secret (`NAMESPACE/NAME`) served when no Ingress certificate matches the SNI.
    #[arg(long, value_name = "NS/NAME")]
    pub default_certificate: Option<String>,

    /// Certificate chain and key files (`CERT.pem,KEY.pem`) for the default certificate when
    /// no --default-certificate Secret is usable (default: a self-signed one made at start).
    #[arg(long, value_name = "CERT,KEY")]
    pub default_certificate_files: Option<String>,

    /// Strict-Transport-Security max-age on HTTPS responses, in seconds (0 turns HSTS off).
    #[arg(long, value_name = "SECONDS", default_value_t = 31_536_000)]
    pub hsts_max_age: u64,

    /// Add `includeSubDomains` to the HSTS header.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub hsts_include_subdomains: bool,

    /// Issue certificates with ACME from this directory URL (`letsencrypt` and
    /// `letsencrypt-staging` are shortcuts). Ingresses opt in with `gatehouse.dev/acme: "true"`.
    #[arg(long, value_name = "URL")]
    pub acme_directory: Option<String>,

    /// Contact e-mail for the ACME account.
    #[arg(long, value_name = "EMAIL")]
    pub acme_email: Option<String>,

    /// Extra CA certificates (PEM) to trust for the ACME server (private CAs, tests).
    #[arg(long, value_name = "PATH")]
    pub acme_ca_file: Option<PathBuf>,

    /// Issue certificates for every TLS entry of our Ingresses, annotated or not.
    #[arg(long)]
    pub acme_all: bool,

    /// Seconds between renewal checks when nothing changes.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub acme_check_interval: u64,

    /// Seconds before the first retry of a failed order (doubling, with jitter).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub acme_backoff_initial: u64,

    /// Longest retry delay for failed orders, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 21_600)]
    pub acme_backoff_max: u64,

    /// Manifests mode: where the ACME account and issued certificates (as Secret manifests)
    /// are kept. Required with --acme-directory and --manifests.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Run the built-in demo: the example manifests (written to a temporary directory unless
    /// --manifests is given), demo backends on 127.0.0.1:18081-18084, and the instances
    /// internal (http 127.0.0.1:8080, https 127.0.0.1:8443, default) and external (127.0.0.1:8081) unless given.
    #[arg(long)]
    pub demo: bool,

    /// Parse every flag, print the effective configuration (each instance with its limits) as
    /// JSON, and exit: 0 if it is valid.
    #[arg(long)]
    pub check_config: bool,

    /// The limit flags given (`--keep-alive` …; see `limits::SETTINGS`), in order.
    #[arg(skip)]
    pub limits: Vec<(String, String)>,
}

impl Cli {
    /// The global external authentication the `--global-auth-*` flags ask for, parsed by the
    /// same parsers as the annotations; an invalid value names its flag.
    pub fn global_auth(&self) -> Result<Option<GlobalAuth>, String> {
        let Some(url) = self.global_auth_url.as_deref() else {
            return Ok(None);
        };
        let settings = AuthSettings {
            url,
            method: self.global_auth_method.as_deref(),
            signin: self.global_auth_signin.as_deref(),
            signin_redirect_param: self.global_auth_signin_redirect_param.as_deref(),
            response_headers: self.global_auth_response_headers.as_deref(),
            request_redirect: self.global_auth_request_redirect.as_deref(),
            snippet: self.global_auth_snippet.as_deref(),
            always_set_cookie: self.global_auth_always_set_cookie.as_deref(),
        };
        let auth = forward_auth::from_settings(&settings).map_err(|e| format!("--global-{e}"))?;
        let no_auth_locations = forward_auth::parse_locations(&self.no_auth_locations)
            .map_err(|e| format!("--no-auth-locations: {e}"))?;
        Ok(Some(GlobalAuth {
            auth: Arc::new(auth),
            no_auth_locations,
        }))
    }
}

/// The command line with the limit flags of `limits::SETTINGS` added.
pub fn command() -> clap::Command {
    Cli::command()
        .version(version())
        .args(crate::limits::args())
}

/// `--version`: the crate version, and the git revision when the build was given one in
/// `GATEHOUSE_GIT_REV` (the container image's build does; it is also `gatehouse_build_info`'s).
fn version() -> &'static str {
    match option_env!("GATEHOUSE_GIT_REV") {
        Some(rev) => Box::leak(format!("{} ({rev})", env!("CARGO_PKG_VERSION")).into_boxed_str()),
        None => env!("CARGO_PKG_VERSION"),
    }
}

/// Parses the command line (limit flags included), exiting with clap's message on an error.
pub fn parse() -> Cli {
    parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// Parses `args` (limit flags included).
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    for setting in crate::limits::SETTINGS {
        if let Some(value) = matches.get_one::<String>(setting.key) {
            cli.limits.push((setting.key.to_string(), value.clone()));
        }
    }
    Ok(cli)
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Report which ingress-nginx annotations, snippets, paths and ConfigMap keys of your
    /// Ingresses carry over to gatehouse (exit 2 when something changes routing or access
    /// control).
    Check(crate::check::CheckArgs),
}

/// `--log-format` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// `--unsupported-annotations` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UnsupportedMode {
    /// Every route of the Ingress answers 503 naming the annotation.
    FailClosed,
    /// The Ingress is served without the access control it asks for.
    Ignore,
}

impl From<UnsupportedMode> for UnsupportedAnnotations {
    fn from(mode: UnsupportedMode) -> Self {
        match mode {
            UnsupportedMode::FailClosed => UnsupportedAnnotations::FailClosed,
            UnsupportedMode::Ignore => UnsupportedAnnotations::Ignore,
        }
    }
}

/// `--metrics-compat` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsCompat {
    /// ingress-nginx's `nginx_ingress_controller_*` names and labels.
    IngressNginx,
}

/// One `--instance` flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceArg {
    /// Ingress class name.
    pub class: String,
    /// Plain HTTP listen address.
    pub http: Option<String>,
    /// HTTPS listen address.
    pub https: Option<String>,
    /// Whether Ingresses without a class belong here.
    pub default: bool,
    /// Status addresses from this Service (`NAMESPACE/NAME`).
    pub publish_service: Option<String>,
    /// Status addresses given directly.
    pub publish_addresses: Vec<String>,
    /// Limits for this instance only (`keep-alive=1h`), over the global flags.
    pub limits: Vec<(String, String)>,
}

/// Parses `class=NAME,http=ADDR[,https=ADDR][,default=true]`.
pub fn parse_instance(spec: &str) -> Result<InstanceArg, String> {
    let mut arg = InstanceArg {
        class: String::new(),
        http: None,
        https: None,
        default: false,
        publish_service: None,
        publish_addresses: Vec::new(),
        limits: Vec::new(),
    };
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not key=value"))?;
        match key {
            "class" => arg.class = value.to_string(),
            "http" => arg.http = Some(check_addr(value)?),
            "https" => arg.https = Some(check_addr(value)?),
            "default" => {
                arg.default = value
                    .parse()
                    .map_err(|_| format!("default={value:?}: expected true or false"))?
            }
            "publish-service" => arg.publish_service = Some(check_ns_name(value)?),
            "publish-address" => arg.publish_addresses.push(value.to_string()),
            other if crate::limits::setting(other).is_some() => {
                crate::limits::apply(&mut crate::limits::defaults(), other, value)?;
                arg.limits.push((other.to_string(), value.to_string()));
            }
            other => {
                return Err(format!(
                    "unknown key {other:?} (expected class, http, https, default, publish-service, publish-address, or a limit like keep-alive)"
                ))
            }
        }
    }
    if arg.class.is_empty() {
        return Err("class=NAME is required".into());
    }
    if arg.http.is_none() && arg.https.is_none() {
        return Err(format!(
            "instance {:?} needs http=ADDR or https=ADDR",
            arg.class
        ));
    }
    Ok(arg)
}

/// A duration flag: seconds (`30`) or a number with a unit (`500ms`, `5s`, `1m`, `1h`), up to
/// an hour, parsed as annotations are.
pub fn parse_duration(value: &str) -> Result<std::time::Duration, String> {
    gatehouse_controller::translate::annotations::values::parse_duration(
        value,
        std::time::Duration::from_secs(3600),
    )
}

/// `--access-log-buffer`: a size up to 1m (the pending limit, 8m, stays well above it).
fn parse_log_buffer(value: &str) -> Result<usize, String> {
    let size = gatehouse_controller::translate::annotations::values::parse_size(value)?;
    usize::try_from(size)
        .ok()
        .filter(|&s| s <= 1 << 20)
        .ok_or_else(|| format!("{value:?} is above the maximum of 1m"))
}

/// `--access-log-flush`: `0`, or a duration up to a minute.
fn parse_log_flush(value: &str) -> Result<std::time::Duration, String> {
    if value.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    gatehouse_controller::translate::annotations::values::parse_duration(
        value,
        std::time::Duration::from_secs(60),
    )
}

/// Checks `NAMESPACE/NAME`.
pub fn check_ns_name(value: &str) -> Result<String, String> {
    match value.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(value.to_string())
        }
        _ => Err(format!("{value:?} is not NAMESPACE/NAME")),
    }
}

fn check_addr(value: &str) -> Result<String, String> {
    value
        .parse::<std::net::SocketAddr>()
        .map(|_| value.to_string())
        .map_err(|e| format!("{value:?} is not an address like 0.0.0.0:80: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ConfigMap catalog names the flag that replaces each key it calls supported: the
    /// flag must exist.
    #[test]
    fn configmap_catalog_names_real_flags() {
        let cmd = command();
        let longs: Vec<&str> = cmd.get_arguments().filter_map(|a| a.get_long()).collect();
        for key in gatehouse_controller::translate::annotations::configmap::CONFIG_KEYS {
            if let Some(flag) = key.flag {
                let name = flag.trim_start_matches("--");
                assert!(longs.contains(&name), "{}: no flag {flag}", key.name);
            }
        }
    }

    #[test]
    fn check_is_a_subcommand_and_the_flags_still_run_the_controller() {
        let cli =
            parse_from(["gatehouse", "--instance", "class=a,http=127.0.0.1:1"]).expect("valid");
        assert!(cli.command.is_none());
        assert!(parse_from(["gatehouse", "--demo"]).is_ok_and(|c| c.demo && c.command.is_none()));
        let cli = parse_from([
            "gatehouse",
            "check",
            "-f",
            "a.yaml",
            "-f",
            "-",
            "--manifests",
            "d",
            "-o",
            "json",
        ])
        .expect("valid");
        let Some(Command::Check(args)) = cli.command else {
            panic!("not check: {:?}", cli.command);
        };
        assert_eq!(args.files, [PathBuf::from("a.yaml"), PathBuf::from("-")]);
        assert_eq!(args.manifests, [PathBuf::from("d")]);
        assert_eq!(args.output, crate::check::output::OutputFormat::Json);
        // The controller's flags do not mix with the subcommand.
        assert!(parse_from(["gatehouse", "--demo", "check"]).is_err());
        assert!(parse_from(["gatehouse", "check", "--demo"]).is_err());
    }

    #[test]
    fn limit_flags() {
        let cli = parse_from([
            "gatehouse",
            "--instance",
            "class=a,http=127.0.0.1:1",
            "--keep-alive",
            "30s",
            "--large-client-header-buffers=4 16k",
        ])
        .expect("valid");
        assert_eq!(
            cli.limits,
            [
                ("keep-alive".to_string(), "30s".to_string()),
                (
                    "large-client-header-buffers".to_string(),
                    "4 16k".to_string()
                )
            ]
        );
        assert!(parse_from(["gatehouse", "--keep-alive", "soon"]).is_err());
        assert!(parse_from(["gatehouse", "--proxy-body-size", "1t"]).is_err());
    }

    #[test]
    fn unsupported_annotations_flag() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["gatehouse", "--instance", "class=a,http=127.0.0.1:1"];
            args.extend_from_slice(extra);
            parse_from(args).map(|c| UnsupportedAnnotations::from(c.unsupported_annotations))
        };
        assert_eq!(parse(&[]).ok(), Some(UnsupportedAnnotations::FailClosed));
        assert_eq!(
            parse(&["--unsupported-annotations=ignore"]).ok(),
            Some(UnsupportedAnnotations::Ignore)
        );
        assert_eq!(
            parse(&["--unsupported-annotations", "fail-closed"]).ok(),
            Some(UnsupportedAnnotations::FailClosed)
        );
        assert!(parse(&["--unsupported-annotations=open"]).is_err());
    }

    #[test]
    fn instance_specs() {
        let ok = parse_instance("class=internal,http=0.0.0.0:80,https=[::]:443,default=true")
            .expect("valid");
        assert_eq!(
            ok,
            InstanceArg {
                class: "internal".into(),
                http: Some("0.0.0.0:80".into()),
                https: Some("[::]:443".into()),
                default: true,
                publish_service: None,
                publish_addresses: vec![],
                limits: vec![],
            }
        );
        let own = parse_instance("class=e,http=1.2.3.4:5,keep-alive=1h,proxy-body-size=8m")
            .expect("valid");
        assert_eq!(
            own.limits,
            [
                ("keep-alive".to_string(), "1h".to_string()),
                ("proxy-body-size".to_string(), "8m".to_string())
            ]
        );
        assert!(parse_instance("class=e,http=1.2.3.4:5,keep-alive=soon").is_err());
        let p = parse_instance("class=e,http=1.2.3.4:5,publish-service=gh/lb,publish-address=a.example,publish-address=10.0.0.1").expect("valid");
        assert_eq!(p.publish_service.as_deref(), Some("gh/lb"));
        assert_eq!(p.publish_addresses, ["a.example", "10.0.0.1"]);
        assert!(parse_instance("class=e,http=1.2.3.4:5,publish-service=nslash").is_err());
        for bad in [
            "http=0.0.0.0:80",
            "class=x",
            "class=x,http=nope",
            "class=x,http=1.2.3.4:5,color=red",
            "class=x,http=1.2.3.4:5,default=yes",
        ] {
            assert!(parse_instance(bad).is_err(), "{bad}");
        }
    }
}
