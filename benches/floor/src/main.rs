//! The benchmarks' floor: the least a Pingora proxy does for the bench's one route — one
//! `ProxyHttp` whose `upstream_peer` names the fixed upstream, Pingora's upstream keep-alive
//! pool, and the forwarded headers every target of `benches/run` sets (X-Forwarded-For/-Proto/
//! -Host/-Port, X-Real-IP). Same Pingora (version and features) and allocator as gatehouse, one
//! worker thread, HTTP/1.1 on the plain listener, TLS (h2 or HTTP/1.1 by ALPN) on the other.
//! `benches/run` measures it beside gatehouse as `pingora-floor`: gatehouse ÷ floor is what
//! gatehouse's own request path costs on top of Pingora's.
//!
//!     gatehouse-bench-floor --upstream 127.0.0.1:PORT [--http ADDR] [--https ADDR --cert PEM --key PEM] [--threads N]

use std::net::SocketAddr;
use std::process::exit;

use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::listeners::tls::TlsSettings;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;

// As gatehouse (src/main.rs): the allocator is part of what the floor measures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Command line of the floor.
#[derive(Debug, Default, PartialEq)]
struct Args {
    upstream: Option<SocketAddr>,
    http: Option<String>,
    https: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    threads: usize,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        threads: 1,
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

/// The one route: everything to the upstream, forwarded headers set.
struct Floor {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Floor {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        // Plain HTTP/1.1 to the upstream; Pingora's connector keeps idle connections pooled.
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        // The same headers gatehouse and every peer of the bench set (nginx: $host,
        // $proxy_add_x_forwarded_for, $scheme, $server_port, $remote_addr).
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
        let https = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_canonical().to_string())
            .unwrap_or_default();
        let port = session
            .server_addr()
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
}

fn main() {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            let usage = "usage: gatehouse-bench-floor --upstream 127.0.0.1:PORT [--http ADDR] \
                         [--https ADDR --cert PEM --key PEM] [--threads N]";
            if e.is_empty() {
                println!("{usage}");
                exit(0);
            }
            eprintln!("{e}\n{usage}");
            exit(2);
        }
    };
    // Per-process paths, as gatehouse's, so several can share a machine.
    let run_dir = std::env::temp_dir();
    let pid = std::process::id();
    let conf = ServerConf {
        threads: args.threads,
        pid_file: run_dir
            .join(format!("gatehouse-bench-floor-{pid}.pid"))
            .display()
            .to_string(),
        upgrade_sock: run_dir
            .join(format!("gatehouse-bench-floor-{pid}.sock"))
            .display()
            .to_string(),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let upstream = args.upstream.expect("checked by parse");
    let mut service = http_proxy_service(&server.configuration, Floor { upstream });
    if let Some(addr) = &args.http {
        service.add_tcp(addr);
    }
    if let Some(addr) = &args.https {
        let (cert, key) = (args.cert.as_deref(), args.key.as_deref());
        let mut tls = match TlsSettings::intermediate(cert.unwrap_or(""), key.unwrap_or("")) {
            Ok(tls) => tls,
            Err(e) => {
                eprintln!("TLS settings: {e}");
                exit(1);
            }
        };
        tls.enable_h2();
        service.add_tls_with_settings(addr, None, tls);
    }
    service.threads = Some(args.threads);
    server.add_service(service);
    server.run_forever();
}
