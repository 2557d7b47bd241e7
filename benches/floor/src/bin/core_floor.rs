//! The bench's second floor: the least HTTP/1.1 reverse proxy written directly on
//! `pingora-core` — no `pingora-proxy`, no `ProxyHttp`. An `HttpServerApp` on Pingora's
//! listener reads each request with `pingora-core`'s server session, takes an upstream
//! connection from the HTTP/1.1 connector's keep-alive pool, writes the request head with the
//! same forwarded headers as `gatehouse-bench-floor`, streams the request body up and then the
//! response body down (Content-Length or chunked: the sessions' own body readers and writers),
//! returns the upstream connection to the pool and the downstream one to Pingora for its next
//! request. Same Pingora, allocator, flags and server configuration as the floor; TLS offers
//! HTTP/1.1 only (no h2).
//!
//! `benches/run` measures it as `core-floor`: core-floor ÷ floor is how much of the floor's CPU
//! per request a lean loop on `pingora-core` saves (issue 14, item 3).
//!
//! Left out, on purpose: concurrent request/response bodies (the request body is sent whole
//! before the response is read), WebSocket/upgrade (a 101 becomes a 502), retries (a stale pooled
//! connection is a 502), timeouts, hop-by-hop header handling beyond what the sessions do, h2.
//!
//!     gatehouse-bench-core-floor --upstream 127.0.0.1:PORT [--http ADDR] [--https ADDR --cert PEM --key PEM] [--threads N]

use std::process::exit;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_bench_floor::{args_or_exit, forwarded_headers, server_conf};
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::connectors::http::v1::Connector;
use pingora::connectors::ConnectorOptions;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::listeners::tls::TlsSettings;
use pingora::protocols::http::ServerSession;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::listening::Service;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

// As gatehouse and the floor: the allocator is part of what is measured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PROGRAM: &str = "gatehouse-bench-core-floor";

/// The one route: everything to the upstream over pooled HTTP/1.1 connections.
struct CoreFloor {
    peer: HttpPeer,
    connector: Connector,
}

impl CoreFloor {
    /// Proxies the request `session` has read. An error before the response head was written
    /// becomes a 502 (by the caller); after it, a closed connection.
    async fn proxy(&self, session: &mut ServerSession) -> Result<()> {
        let (mut upstream, _reused) = self.connector.get_http_session(&self.peer).await?;

        let mut req: RequestHeader = session.req_header().clone();
        req.set_version(pingora::http::Version::HTTP_11);
        let https = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        forwarded_headers(
            &mut req,
            https,
            session.client_addr(),
            session.server_addr(),
        )?;
        upstream.write_request_header(Box::new(req)).await?;

        // Request body, streamed chunk by chunk (decoded, then re-framed by the client session).
        // An empty read (the chunked reader returns one between chunks) is skipped: an empty write
        // would end a chunked body upstream.
        if !session.is_body_empty() {
            while let Some(data) = session.read_request_body().await? {
                if !data.is_empty() {
                    upstream.write_body(&data).await?;
                }
            }
        }
        upstream.finish_body().await?;

        // Response head: informational ones (100 Continue…) are dropped, as nginx does.
        loop {
            upstream.read_response().await?;
            match upstream.get_status().map(|s| s.as_u16()) {
                Some(101) => {
                    return Error::e_explain(ErrorType::InvalidHTTPHeader, "upgrade unsupported")
                }
                Some(100..=199) => continue,
                _ => break,
            }
        }
        let resp: Box<ResponseHeader> = match upstream.resp_header() {
            Some(resp) => Box::new(resp.clone()),
            None => return Error::e_explain(ErrorType::InvalidHTTPHeader, "no response head"),
        };
        session.write_response_header(resp).await?;

        // Response body, streamed chunk by chunk.
        while let Some(data) = upstream.read_body_bytes().await? {
            session.write_response_body(data, false).await?;
        }
        // Back to the pool when the response was complete and the upstream keeps it alive.
        self.connector
            .release_http_session(upstream, &self.peer, None)
            .await;
        Ok(())
    }
}

#[async_trait]
impl HttpServerApp for CoreFloor {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        // Ok(false): the client closed an idle keep-alive connection; Err: a bad request head.
        match session.read_request().await {
            Ok(true) => {}
            Ok(false) | Err(_) => return None,
        }
        if self.proxy(&mut session).await.is_err() {
            if session.response_written().is_none() {
                session.set_keepalive(None);
                let _ = session.respond_error(502).await;
            }
            return None;
        }
        let settings = HttpPersistentSettings::for_session(&session);
        match session.finish().await {
            Ok(Some(stream)) => Some(ReusedHttpStream::from_reusable_stream(stream, settings)),
            Ok(None) | Err(_) => None,
        }
    }
}

fn main() {
    let (args, upstream) = args_or_exit(PROGRAM);
    if args.h2c {
        eprintln!("{PROGRAM} serves HTTP/1.1 only: no --h2c");
        std::process::exit(2);
    }
    let conf = server_conf(PROGRAM, &args);
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let app = CoreFloor {
        // Plain HTTP/1.1 to the upstream, as the floor's upstream_peer.
        peer: HttpPeer::new(upstream, false, String::new()),
        // The pool sized as the floor's (`--keepalive-pool`, through the server's settings).
        connector: Connector::new(Some(ConnectorOptions::from_server_conf(
            &server.configuration,
        ))),
    };
    let mut service = Service::new(PROGRAM.to_string(), app);
    if let Some(addr) = &args.http {
        service.add_tcp(addr);
    }
    if let Some(addr) = &args.https {
        let (cert, key) = (args.cert.as_deref(), args.key.as_deref());
        // HTTP/1.1 only by ALPN: the h2 scenarios are n/a for this target.
        let tls = match TlsSettings::intermediate(cert.unwrap_or(""), key.unwrap_or("")) {
            Ok(tls) => tls,
            Err(e) => {
                eprintln!("TLS settings: {e}");
                exit(1);
            }
        };
        service.add_tls_with_settings(addr, None, tls);
    }
    service.threads = Some(args.threads);
    server.add_service(service);
    server.run_forever();
}
