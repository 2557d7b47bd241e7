//! The HTTP/1.1 layer: accept loop, per-connection tasks, request/response conversion.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::requests::{RequestLog, RequestRecord};
use crate::routes::{self, ApiRequest, Reply};
use crate::status::ApiError;
use crate::store::Store;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// State shared by all connections and the test handle; survives stop/restart.
#[derive(Debug)]
pub struct Shared {
    /// Objects, history and watches.
    pub store: Arc<Store>,
    /// Every answered request.
    pub log: RequestLog,
    /// Injected failures: (remaining count, status code).
    pub fail_next: Mutex<(u32, u16)>,
    /// Interval between watch bookmarks, in milliseconds.
    pub bookmark_ms: AtomicU64,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            store: Arc::new(Store::default()),
            log: RequestLog::default(),
            fail_next: Mutex::new((0, 500)),
            bookmark_ms: AtomicU64::new(1000),
        }
    }
}

impl Shared {
    fn take_injected_failure(&self) -> Option<u16> {
        let mut fail = self
            .fail_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if fail.0 == 0 {
            return None;
        }
        fail.0 -= 1;
        Some(fail.1)
    }
}

/// Accepts connections until `shutdown` fires (or its sender is dropped), then closes the
/// listener and aborts every connection, including open watch streams.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                Err(e) => {
                    tracing::debug!("test API server accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    if let Err(e) = conn.await {
        tracing::debug!("test API server connection ended: {e}");
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let at = SystemTime::now();
    let (parts, body) = req.into_parts();
    let header = |name: hyper::header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let api_req = ApiRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        content_type: header(hyper::header::CONTENT_TYPE),
        accept: header(hyper::header::ACCEPT),
        body: Bytes::new(),
    };
    let reply = match body.collect().await {
        Err(e) => Reply::from(ApiError::bad_request(format!("reading request body: {e}"))),
        Ok(collected) => {
            let api_req = ApiRequest {
                body: collected.to_bytes(),
                ..api_req.clone()
            };
            match shared.take_injected_failure() {
                Some(code) => Reply::from(ApiError::injected(code)),
                None => {
                    let bookmark_every =
                        Duration::from_millis(shared.bookmark_ms.load(Ordering::Relaxed).max(1));
                    routes::dispatch(&shared.store, bookmark_every, &api_req)
                }
            }
        }
    };
    let (status, body): (u16, Body) = match reply {
        Reply::Json(code, value) => (
            code,
            Full::new(Bytes::from(value.to_string())).boxed_unsync(),
        ),
        Reply::Watch(events) => (
            200,
            StreamBody::new(events.map(|b| Ok(Frame::data(b)))).boxed_unsync(),
        ),
    };
    shared.log.push(RequestRecord {
        method: api_req.method,
        path: api_req.path,
        query: api_req.query,
        content_type: api_req.content_type,
        status,
        at,
    });
    let mut response = Response::new(body);
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
