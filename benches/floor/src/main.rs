//! The benchmarks' floor: the least a Pingora proxy does for the bench's one route — one
//! `ProxyHttp` whose `upstream_peer` names the fixed upstream, Pingora's upstream keep-alive
//! pool, and the forwarded headers every target of `benches/run` sets (X-Forwarded-For/-Proto/
//! -Host/-Port, X-Real-IP). Same Pingora (version and features) and allocator as gatehouse, one
//! worker thread, HTTP/1.1 on the plain listener, TLS (h2 or HTTP/1.1 by ALPN) on the other.
//! `benches/run` measures it beside gatehouse as `pingora-floor`: gatehouse ÷ floor is what
//! gatehouse's own request path costs on top of Pingora's.
//!
//!     gatehouse-bench-floor --upstream 127.0.0.1:PORT [--http ADDR] [--https ADDR --cert PEM --key PEM] [--threads N] [--h2c]

use std::net::SocketAddr;
use std::process::exit;

use async_trait::async_trait;
use gatehouse_bench_floor::{args_or_exit, forwarded_headers, server_conf};
use pingora::apps::HttpServerOptions;
use pingora::http::RequestHeader;
use pingora::listeners::tls::TlsSettings;
use pingora::prelude::*;

// As gatehouse (src/main.rs): the allocator is part of what the floor measures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        let https = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        forwarded_headers(req, https, session.client_addr(), session.server_addr())
    }
}

fn main() {
    let (args, upstream) = args_or_exit("gatehouse-bench-floor");
    let conf = server_conf("gatehouse-bench-floor", &args);
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = http_proxy_service(&server.configuration, Floor { upstream });
    if args.h2c {
        if let Some(proxy) = service.app_logic_mut() {
            let mut options = HttpServerOptions::default();
            options.h2c = true;
            proxy.server_options = Some(options);
        }
    }
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
