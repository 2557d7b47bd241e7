//! What the bench's two floors share: their command line and their Pingora server
//! configuration. `gatehouse-bench-floor` (src/main.rs) is Pingora's generic proxy loop
//! (`pingora-proxy`'s `ProxyHttp`); `gatehouse-bench-core-floor` (src/bin/core_floor.rs) is the
//! least HTTP/1.1 proxy loop written directly on `pingora-core`'s sessions. Both take the same
//! flags, so `benches/run` and `benches/instructions` start them alike.

use std::net::SocketAddr;
use std::process::exit;

use pingora::http::RequestHeader;
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use pingora::server::configuration::ServerConf;

/// Command line of a floor.
#[derive(Debug, Default, PartialEq)]
pub struct Args {
    pub upstream: Option<SocketAddr>,
    pub http: Option<String>,
    pub https: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub threads: usize,
    /// Idle upstream connections kept per worker thread (Pingora's default: 128).
    pub keepalive_pool: usize,
    /// HTTP/2 with prior knowledge on the plain listener too, as gatehouse offers it (the floor
    /// only: `benches/instructions --h2`). Off by default: Pingora then peeks at every new
    /// plain connection for the preface, which the HTTP/1.1 scenarios should not pay.
    pub h2c: bool,
    /// Pingora's shared work-stealing scheduler (`true`, Pingora's default) or a scheduler per
    /// worker thread (`false`, gatehouse's default): `benches/run` gives the floors gatehouse's
    /// setting, so that gatehouse ÷ floor compares request paths, not schedulers.
    pub work_stealing: bool,
}

pub fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        threads: 1,
        keepalive_pool: ServerConf::default().upstream_keepalive_pool_size,
        work_stealing: ServerConf::default().work_stealing,
        ..Args::default()
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--upstream" => {
                let v = value()?;
                args.upstream = Some(v.parse().map_err(|e| format!("--upstream {v}: {e}"))?);
            }
            "--http" => args.http = Some(value()?),
            "--https" => args.https = Some(value()?),
            "--cert" => args.cert = Some(value()?),
            "--key" => args.key = Some(value()?),
            "--threads" => {
                let v = value()?;
                args.threads = v.parse().map_err(|e| format!("--threads {v}: {e}"))?;
            }
            "--keepalive-pool" => {
                let v = value()?;
                args.keepalive_pool = v
                    .parse()
                    .map_err(|e| format!("--keepalive-pool {v}: {e}"))?;
            }
            "--h2c" => args.h2c = true,
            "--work-stealing" => {
                let v = value()?;
                args.work_stealing = v
                    .parse()
                    .map_err(|e| format!("--work-stealing {v}: {e} (true or false)"))?;
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.upstream.is_none() {
        return Err("--upstream is required".into());
    }
    if args.http.is_none() && args.https.is_none() {
        return Err("give --http, --https or both".into());
    }
    if args.https.is_some() && (args.cert.is_none() || args.key.is_none()) {
        return Err("--https needs --cert and --key".into());
    }
    Ok(args)
}

/// The process's arguments, or exit: 0 with the usage for --help, 2 with the error and usage.
pub fn args_or_exit(program: &str) -> (Args, SocketAddr) {
    match parse(std::env::args().skip(1)) {
        Ok(args) => {
            let upstream = args.upstream.expect("checked by parse");
            (args, upstream)
        }
        Err(e) => {
            let usage = format!(
                "usage: {program} --upstream 127.0.0.1:PORT [--http ADDR] \
                 [--https ADDR --cert PEM --key PEM] [--threads N] [--keepalive-pool N] [--h2c] \
                 [--work-stealing BOOL]"
            );
            if e.is_empty() {
                println!("{usage}");
                exit(0);
            }
            eprintln!("{e}\n{usage}");
            exit(2);
        }
    }
}

/// Pingora's server configuration: the workers and upstream pool `args` ask for, per-process
/// paths (as gatehouse's, so several can share a machine), no grace period.
pub fn server_conf(program: &str, args: &Args) -> ServerConf {
    let run_dir = std::env::temp_dir();
    let pid = std::process::id();
    ServerConf {
        threads: args.threads,
        upstream_keepalive_pool_size: args.keepalive_pool,
        work_stealing: args.work_stealing,
        pid_file: run_dir
            .join(format!("{program}-{pid}.pid"))
            .display()
            .to_string(),
        upgrade_sock: run_dir
            .join(format!("{program}-{pid}.sock"))
            .display()
            .to_string(),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    }
}

/// The headers gatehouse and every peer of the bench set (nginx: $host,
/// $proxy_add_x_forwarded_for, $scheme, $server_port, $remote_addr), on the request head going
/// upstream; `client` and `server` are the downstream connection's addresses.
pub fn forwarded_headers(
    req: &mut RequestHeader,
    https: bool,
    client: Option<&PeerAddr>,
    server: Option<&PeerAddr>,
) -> pingora::Result<()> {
    let host = match req.headers.get("host") {
        Some(h) => h.to_str().unwrap_or_default().to_owned(),
        // HTTP/2 carries it in the authority; the HTTP/1.1 upstream needs a Host.
        None => req
            .uri
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default(),
    };
    if req.headers.get("host").is_none() && !host.is_empty() {
        req.insert_header("host", host.as_str())?;
    }
    let client = client
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_canonical().to_string())
        .unwrap_or_default();
    let port = server
        .and_then(|a| a.as_inet())
        .map_or(if https { 443 } else { 80 }, |a| a.port());
    req.insert_header("x-forwarded-for", client.as_str())?;
    req.insert_header("x-real-ip", client.as_str())?;
    req.insert_header("x-forwarded-proto", if https { "https" } else { "http" })?;
    if !host.is_empty() {
        req.insert_header("x-forwarded-host", host.as_str())?;
    }
    req.insert_header("x-forwarded-port", port)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn both_floors_take_the_same_flags() {
        let parsed = args(&[
            "--upstream",
            "127.0.0.1:1",
            "--http",
            "127.0.0.1:2",
            "--threads",
            "2",
            "--keepalive-pool",
            "512",
        ]);
        let parsed = parsed.expect("valid");
        assert_eq!(parsed.upstream, Some("127.0.0.1:1".parse().expect("addr")));
        assert_eq!(parsed.http.as_deref(), Some("127.0.0.1:2"));
        assert_eq!(parsed.threads, 2);
        assert_eq!(parsed.keepalive_pool, 512);
        assert!(!parsed.h2c, "HTTP/1.1 only unless asked");
        assert!(
            parsed.work_stealing,
            "Pingora's default scheduler unless asked"
        );
        assert_eq!(
            args(&[
                "--upstream",
                "127.0.0.1:1",
                "--http",
                "x",
                "--work-stealing",
                "false"
            ])
            .map(|a| server_conf("t", &a).work_stealing),
            Ok(false)
        );
        assert!(args(&[
            "--upstream",
            "127.0.0.1:1",
            "--http",
            "x",
            "--work-stealing",
            "no"
        ])
        .is_err());
        assert_eq!(
            args(&["--upstream", "127.0.0.1:1", "--http", "x", "--h2c"]).map(|a| a.h2c),
            Ok(true)
        );
        assert_eq!(
            args(&["--upstream", "127.0.0.1:1", "--http", "x"]).map(|a| a.keepalive_pool),
            Ok(128)
        );
        assert!(args(&["--http", "x"]).is_err());
        assert!(args(&["--upstream", "127.0.0.1:1"]).is_err());
        assert!(args(&["--upstream", "127.0.0.1:1", "--https", "x"]).is_err());
        assert_eq!(args(&["--help"]), Err(String::new()));
    }
}
