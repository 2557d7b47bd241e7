//! The HTTP/1.1 client of auth subrequests: Pingora's own connector (so subrequests reuse
//! pooled keep-alive connections, per auth service address), names resolved with the system
//! resolver and remembered for a short while, and one deadline for the whole exchange.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderMap;
use pingora::connectors::http::v1::Connector;
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::upstreams::peer::HttpPeer;

/// How long a pooled connection to an auth service stays open while idle.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a resolved auth service name is used before it is looked up again (the cluster
/// DNS's own TTL is 30 s; the system resolver does not tell us the record's TTL).
const DNS_TTL: Duration = Duration::from_secs(30);
/// The auth answer's body is read and dropped up to this size so the connection can be
/// reused; a longer body closes the connection instead.
const MAX_DRAINED_BODY: usize = 64 * 1024;
/// Names remembered at most (a template auth-url like `https://$host/…` makes one per host).
const MAX_CACHED_NAMES: usize = 1024;

/// Where a subrequest goes, taken apart from its rendered URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// TLS to the auth service.
    pub tls: bool,
    /// Its host name or address literal (without brackets).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The `Host` header value (the URL's authority).
    pub authority: String,
    /// The path and query.
    pub path_and_query: String,
}

impl Target {
    /// Parses a rendered auth URL; `None` unless it is an absolute http(s) URL.
    pub fn parse(url: &str) -> Option<Target> {
        let uri: http::Uri = url.parse().ok()?;
        let tls = match uri.scheme_str()? {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        let authority = uri.authority()?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() || authority.as_str().contains('@') {
            return None;
        }
        Some(Target {
            tls,
            host: host.to_string(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            authority: authority.as_str().to_string(),
            path_and_query: uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
        })
    }
}

/// An auth service's answer: what the step needs of it.
#[derive(Debug)]
pub struct AuthAnswer {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
}

/// Resolved auth service names: (host, port) → addresses and when they were looked up.
type NameCache = HashMap<(String, u16), (Vec<SocketAddr>, Instant)>;

/// One instance's auth client.
pub struct AuthClient {
    connector: Connector,
    names: Mutex<NameCache>,
}

impl Default for AuthClient {
    fn default() -> Self {
        Self {
            connector: Connector::new(None),
            names: Mutex::new(HashMap::new()),
        }
    }
}

impl AuthClient {
    /// Sends `req` (a head without body) to `target` and reads the answer; `connect` bounds
    /// each connection attempt, `deadline` the whole exchange.
    pub async fn ask(
        &self,
        target: &Target,
        req: RequestHeader,
        connect: Duration,
        deadline: Duration,
    ) -> Result<AuthAnswer> {
        match tokio::time::timeout(deadline, self.exchange(target, req, connect)).await {
            Ok(answer) => answer,
            Err(_) => Error::e_explain(
                ErrorType::ReadTimedout,
                format!(
                    "auth service {} did not answer within {deadline:?}",
                    target.authority
                ),
            ),
        }
    }

    async fn exchange(
        &self,
        target: &Target,
        req: RequestHeader,
        connect: Duration,
    ) -> Result<AuthAnswer> {
        let addr = self.resolve(target).await?;
        // rustls never sends an address as SNI; a name is sent, as nginx's
        // proxy_ssl_server_name on (which ingress-nginx sets for auth subrequests).
        let mut peer = HttpPeer::new(addr, target.tls, target.host.clone());
        // Not verified, as ingress-nginx's auth subrequests (proxy_ssl_verify off).
        peer.options.verify_cert = false;
        peer.options.verify_hostname = false;
        peer.options.connection_timeout = Some(connect);
        peer.options.idle_timeout = Some(IDLE_TIMEOUT);
        // A pooled connection the auth service has closed meanwhile fails on first use: such
        // a failure is tried again (on another pooled connection or a new one), as Pingora
        // does for proxied requests; a failure on a new connection is final.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (mut session, reused) = self.connector.get_http_session(&peer).await?;
            match Self::once(&mut session, req.clone()).await {
                Ok((answer, drained)) => {
                    if drained {
                        self.connector
                            .release_http_session(session, &peer, Some(IDLE_TIMEOUT))
                            .await;
                    } else {
                        session.shutdown().await;
                    }
                    return Ok(answer);
                }
                Err(e) if reused && attempts < 3 => {
                    tracing::debug!(
                        "auth subrequest on a pooled connection failed, trying again: {e}"
                    );
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One request and answer on `session`; true when the body was read to its end.
    async fn once(
        session: &mut pingora::protocols::http::v1::client::HttpSession,
        req: RequestHeader,
    ) -> Result<(AuthAnswer, bool)> {
        session.write_request_header(Box::new(req)).await?;
        // Informational answers (100 Continue) come before the real one.
        let head = loop {
            session.read_response().await?;
            let head = session
                .resp_header()
                .ok_or_else(|| Error::explain(ErrorType::InvalidHTTPHeader, "no auth answer"))?;
            if !head.status.is_informational() {
                break head;
            }
        };
        let answer = AuthAnswer {
            status: head.status.as_u16(),
            headers: head.headers.clone(),
        };
        let mut seen = 0;
        while let Some(chunk) = session.read_body_ref().await? {
            seen += chunk.len();
            if seen > MAX_DRAINED_BODY {
                return Ok((answer, false));
            }
        }
        Ok((answer, true))
    }

    /// The address to connect to: an address literal as is, a name from the cache or the
    /// system resolver (the first address it gives).
    async fn resolve(&self, target: &Target) -> Result<SocketAddr> {
        if let Ok(ip) = target.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, target.port));
        }
        let key = (target.host.clone(), target.port);
        if let Ok(names) = self.names.lock() {
            if let Some((addrs, at)) = names.get(&key) {
                if at.elapsed() < DNS_TTL {
                    if let Some(a) = addrs.first() {
                        return Ok(*a);
                    }
                }
            }
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .or_err_with(ErrorType::ConnectNoRoute, || {
                format!("resolving auth service {}", target.host)
            })?
            .collect();
        let first = *addrs.first().ok_or_else(|| {
            Error::explain(
                ErrorType::ConnectNoRoute,
                format!("auth service name {} has no address", target.host),
            )
        })?;
        if let Ok(mut names) = self.names.lock() {
            if names.len() >= MAX_CACHED_NAMES {
                names.retain(|_, (_, at)| at.elapsed() < DNS_TTL);
            }
            if names.len() < MAX_CACHED_NAMES {
                names.insert(key, (addrs, Instant::now()));
            }
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_urls() {
        let t = Target::parse("http://authelia.auth.svc:9091/api/verify?x=1").unwrap();
        assert_eq!(
            t,
            Target {
                tls: false,
                host: "authelia.auth.svc".into(),
                port: 9091,
                authority: "authelia.auth.svc:9091".into(),
                path_and_query: "/api/verify?x=1".into(),
            }
        );
        let t = Target::parse("https://[::1]/oauth2/auth").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (true, "::1", 443));
        assert_eq!(t.path_and_query, "/oauth2/auth");
        let t = Target::parse("http://auth.example").unwrap();
        assert_eq!((t.port, t.path_and_query.as_str()), (80, "/"));
        for bad in [
            "/api/verify",
            "ftp://a/",
            "http://user@evil/",
            "http:///x",
            "not a url",
        ] {
            assert_eq!(Target::parse(bad), None, "{bad}");
        }
    }
}
