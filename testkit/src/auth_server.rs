//! Forward-auth emulators: small HTTP/1.1 servers that answer ingress-nginx `auth-url`
//! subrequests the way four real auth services do, so tests can check gatehouse's forward auth
//! against the contracts those projects document, without running the services.
//!
//! Every emulator records each request it gets ([`AuthServer::requests`]), counts the TCP
//! connections it accepted ([`AuthServer::connections`], to see pooled reuse), keeps
//! connections alive (HTTP/1.1, `Content-Length` on every answer), and checks each request
//! against the documented contract: a request that lacks or garbles a header the real service
//! needs, carries a body (auth subrequests have none), or goes to another path is answered
//! `400` with the reason as body and the reason is kept in
//! [`AuthServer::contract_violations`]. (The real services would answer such a request with a
//! 401 or 500 and a log line; the 400 makes the mistake visible.) Sessions are opaque cookies
//! handed out by [`AuthServer::login`]. Real Authelia also refuses (401) target URLs whose
//! scheme is not `https`; the emulators accept `http` too, so plain-HTTP tests work.
//!
//! [`AuthServer::annotations`] gives the Ingress annotations each project's ingress-nginx
//! page tells users to set (with `auth-url` pointing at the emulator). Where a page is silent
//! or has changed, this is the form taken: Authelia's page names only
//! `/api/authz/auth-request` now, so `/api/verify` gets the same annotations with its own URL;
//! authentik's page now writes the app host as a literal ([`AuthServer::earlier_annotations`]
//! gives the earlier `$http_host` revision); oauth2-proxy's page sets only `auth-url` and
//! `auth-signin` (an older revision added `auth-response-headers: Authorization` with a Lua
//! snippet), so the emulator adds the widespread `--set-xauthrequest` form
//! `auth-response-headers: "x-auth-request-user, x-auth-request-email"`, space included.
//!
//! - [`AuthKind::AutheliaVerify`]: Authelia's legacy `/api/verify` endpoint. The target URL is
//!   taken from `X-Original-URL`, else from `X-Forwarded-Proto` + `X-Forwarded-Host` +
//!   `X-Forwarded-Uri` (none of them: violation); the method from `X-Original-Method` or
//!   `X-Forwarded-Method`. Session cookie `authelia_session`. Logged in: `200` with
//!   `Remote-User`, `Remote-Groups` (comma-separated), `Remote-Name`, `Remote-Email` and body
//!   `200 OK`; forbidden: `403`; not logged in: `401`, or with an `rd` query parameter on the
//!   auth URL (the portal URL) and a client that accepts `text/html` and is not an XHR, a `302`
//!   (`303` for methods other than GET/OPTIONS) to `<rd>?rd=<target url>&rm=<method>`.
//!   Sources: <https://www.authelia.com/reference/guides/proxy-authorization/> (Legacy
//!   implementation metadata), <https://www.authelia.com/integration/proxies/introduction/>
//!   (rd behaviour), `internal/handlers/handler_authz_impl_legacy.go` and
//!   `handler_authz_common.go` in github.com/authelia/authelia (statuses and `Remote-*`).
//! - [`AuthKind::AutheliaAuthRequest`]: Authelia's `/api/authz/auth-request` (4.38+), the one
//!   its ingress-nginx page recommends with `auth-method: GET`. Requires `X-Original-URL` (an
//!   absolute URL) and `X-Original-Method`, and a GET. Same `200`/`403`/`401` and `Remote-*`
//!   headers; a `401` carries `Location` (the portal with `rd`/`rm`) when the auth URL has an
//!   `authelia_url` query parameter (standing in for the session's `authelia_url` setting).
//!   Sources: <https://www.authelia.com/integration/kubernetes/nginx-ingress/> (annotations),
//!   <https://www.authelia.com/reference/guides/proxy-authorization/> (AuthRequest metadata),
//!   `internal/handlers/handler_authz_impl_authrequest.go`.
//! - [`AuthKind::Authentik`]: an authentik proxy outpost's `/outpost.goauthentik.io/auth/nginx`.
//!   Requires `X-Original-URL` (absolute) and, because the documented `auth-snippet` sets it and
//!   the outpost matches its application by it, `X-Forwarded-Host` equal to the host (and
//!   port) of `X-Original-URL`. Session cookie `authentik_proxy_<id>` ([`AuthServer::cookie_name`]).
//!   Logged in: `200`, empty body, `X-authentik-username`, `X-authentik-groups` (`|`-separated),
//!   `X-authentik-entitlements`, `X-authentik-email`, `X-authentik-name`, `X-authentik-uid`,
//!   `X-authentik-jwt`, `X-authentik-meta-*` and `User-Agent` (echoed, as the outpost does);
//!   not logged in: `401` `unauthorized request` with a `Set-Cookie` of a fresh session (the
//!   outpost saves the URL to return to after login in it). The outpost itself never answers
//!   403; [`AuthServer::forbid`] makes it do so anyway. Sources:
//!   <https://docs.goauthentik.io/add-secure-apps/providers/proxy/server_nginx/> (Ingress tab,
//!   `website/docs/add-secure-apps/providers/proxy/_nginx_ingress.mdx`),
//!   `internal/outpost/proxyv2/application/mode_forward.go` and `mode_forward_nginx_test.go`
//!   in github.com/goauthentik/authentik.
//! - [`AuthKind::OAuth2Proxy`]: oauth2-proxy's `/oauth2/auth`, which "only returns a 202
//!   Accepted response or a 401 Unauthorized response". Session cookie `_oauth2_proxy`. Logged
//!   in: `202`, empty body, `X-Auth-Request-User`, `X-Auth-Request-Email`,
//!   `X-Auth-Request-Preferred-Username` and (when there are groups) `X-Auth-Request-Groups`
//!   (comma-separated), as with `--set-xauthrequest`; an `allowed_groups` query parameter the
//!   user's groups miss gives `403`, as does [`AuthServer::forbid`]; not logged in: `401`. No
//!   header is required. Sources:
//!   <https://oauth2-proxy.github.io/oauth2-proxy/configuration/integrations/nginx> (auth_request
//!   and the ingress-nginx annotations), <https://oauth2-proxy.github.io/oauth2-proxy/features/endpoints>,
//!   <https://kubernetes.github.io/ingress-nginx/examples/auth/oauth-external-auth/>.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::recording::{next_request, SeenRequest};

/// Upper bound on what one connection may buffer, so a runaway test cannot exhaust memory.
const MAX_BUFFERED: usize = 1 << 20;

/// The annotation prefix ingress-nginx reads.
const PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// Which real auth service's documented ingress-nginx contract the emulator reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// Authelia's legacy `/api/verify` endpoint.
    AutheliaVerify,
    /// Authelia's `/api/authz/auth-request` endpoint (4.38+).
    AutheliaAuthRequest,
    /// An authentik proxy outpost's nginx endpoint.
    Authentik,
    /// oauth2-proxy's `/oauth2/auth` endpoint.
    OAuth2Proxy,
}

impl AuthKind {
    /// Every kind, for tests that run the same case against each.
    pub const ALL: [AuthKind; 4] = [
        AuthKind::AutheliaVerify,
        AuthKind::AutheliaAuthRequest,
        AuthKind::Authentik,
        AuthKind::OAuth2Proxy,
    ];

    /// The documented path of the auth endpoint.
    pub fn path(self) -> &'static str {
        match self {
            AuthKind::AutheliaVerify => "/api/verify",
            AuthKind::AutheliaAuthRequest => "/api/authz/auth-request",
            AuthKind::Authentik => "/outpost.goauthentik.io/auth/nginx",
            AuthKind::OAuth2Proxy => "/oauth2/auth",
        }
    }

    /// The name of the session cookie the service reads.
    pub fn cookie_name(self) -> &'static str {
        match self {
            AuthKind::AutheliaVerify | AuthKind::AutheliaAuthRequest => "authelia_session",
            // The outpost names it `authentik_proxy_` + a per-provider id; any fixed id will do.
            AuthKind::Authentik => "authentik_proxy_4f8a1c2e",
            AuthKind::OAuth2Proxy => "_oauth2_proxy",
        }
    }

    /// The status an authenticated, allowed request gets.
    pub fn success_status(self) -> u16 {
        match self {
            AuthKind::OAuth2Proxy => 202,
            _ => 200,
        }
    }

    /// The response headers that carry the user's identity on success (canonical spelling).
    pub fn identity_headers(self) -> &'static [&'static str] {
        match self {
            AuthKind::AutheliaVerify | AuthKind::AutheliaAuthRequest => &[
                "Remote-User",
                "Remote-Groups",
                "Remote-Name",
                "Remote-Email",
            ],
            AuthKind::Authentik => &[
                "X-authentik-username",
                "X-authentik-groups",
                "X-authentik-entitlements",
                "X-authentik-email",
                "X-authentik-name",
                "X-authentik-uid",
            ],
            AuthKind::OAuth2Proxy => &["X-Auth-Request-User", "X-Auth-Request-Email"],
        }
    }
}

/// A running forward-auth emulator; dropping it stops the listener and its connections.
pub struct AuthServer {
    kind: AuthKind,
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

/// One logged-in session.
#[derive(Clone, Debug)]
struct Session {
    user: String,
    groups: Vec<String>,
}

/// What the tests set and what the connections saw.
#[derive(Default)]
struct State {
    sessions: HashMap<String, Session>,
    forbidden: HashSet<String>,
    answer_with: Option<u16>,
    refresh_cookie: bool,
    seen: Vec<SeenRequest>,
    violations: Vec<String>,
}

/// What the connections of one emulator share.
struct Shared {
    kind: AuthKind,
    state: Mutex<State>,
    connections: AtomicUsize,
    /// Source of session ids (mixed with the port so two emulators hand out different ones).
    next_id: AtomicU64,
    port: u16,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide what was recorded.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_token(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        // A splitmix64 step: ids look random but are unique per emulator.
        let mut z = n
            .wrapping_add(u64::from(self.port) << 32)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        format!("{z:016x}{n:04x}")
    }
}

impl AuthServer {
    /// Listens on 127.0.0.1, a free port.
    pub async fn start(kind: AuthKind) -> anyhow::Result<AuthServer> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .with_context(|| format!("auth emulator {kind:?}: bind"))?;
        let addr = listener.local_addr().context("auth emulator local_addr")?;
        let shared = Arc::new(Shared {
            kind,
            state: Mutex::new(State::default()),
            connections: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            port: addr.port(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        tokio::spawn(accept_loop(listener, shared.clone(), shutdown_rx));
        Ok(AuthServer {
            kind,
            addr,
            shared,
            shutdown,
        })
    }

    /// The service it emulates.
    pub fn kind(&self) -> AuthKind {
        self.kind
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The auth-url for this kind: `http://127.0.0.1:PORT` + the documented path.
    pub fn auth_url(&self) -> String {
        format!("http://{}{}", self.addr, self.kind.path())
    }

    /// The name of the session cookie this emulator reads (and [`AuthServer::login`] sets).
    pub fn cookie_name(&self) -> &'static str {
        self.kind.cookie_name()
    }

    /// The annotations (full keys) the project's current ingress-nginx documentation tells
    /// users to set, with `auth-url` = [`AuthServer::auth_url`] and the sign-in at
    /// `signin_host` (for authentik the protected app's own host, port included when it is
    /// not the default: its docs put the sign-in there and send it as `X-Forwarded-Host`).
    /// nginx variables are left in as the docs have them.
    pub fn annotations(&self, signin_host: &str) -> Vec<(String, String)> {
        let auth_url = self.auth_url();
        let pairs: Vec<(&str, String)> = match self.kind {
            // authelia.com/integration/kubernetes/nginx-ingress/ (the same shape for both:
            // the page names /api/authz/auth-request since 4.38, /api/verify before).
            AuthKind::AutheliaVerify | AuthKind::AutheliaAuthRequest => vec![
                ("auth-method", "GET".to_string()),
                ("auth-url", auth_url),
                (
                    "auth-signin",
                    format!("https://{signin_host}?rm=$request_method"),
                ),
                (
                    "auth-response-headers",
                    "Remote-User,Remote-Name,Remote-Groups,Remote-Email".to_string(),
                ),
            ],
            // _nginx_ingress.mdx: literal host, snippet with its comments (nginx ignores them).
            AuthKind::Authentik => vec![
                ("auth-url", auth_url),
                (
                    "auth-signin",
                    format!(
                        "https://{signin_host}/outpost.goauthentik.io/start\
                         ?rd=$scheme://{signin_host}$escaped_request_uri"
                    ),
                ),
                (
                    "auth-response-headers",
                    AUTHENTIK_RESPONSE_HEADERS.to_string(),
                ),
                (
                    "auth-snippet",
                    format!(
                        "# Must match the proxy provider's External host, including any \
                         non-standard port. The outpost\n\
                         # reads X-Forwarded-Host in preference to Host when matching a \
                         request to an application.\n\
                         # Do not set X-Original-URL here: ingress-nginx already sets it \
                         earlier in this same location,\n\
                         # and its value takes precedence over anything the snippet appends.\n\
                         proxy_set_header X-Forwarded-Host {signin_host};\n"
                    ),
                ),
            ],
            // oauth2-proxy's nginx integration page: auth-url and auth-signin on `$host`
            // (auth-url replaced by ours: tests have no DNS). The response headers are the
            // widespread `--set-xauthrequest` form, spacing included (see the module docs).
            AuthKind::OAuth2Proxy => vec![
                ("auth-url", auth_url),
                (
                    "auth-signin",
                    "https://$host/oauth2/start?rd=$escaped_request_uri".to_string(),
                ),
                (
                    "auth-response-headers",
                    "x-auth-request-user, x-auth-request-email".to_string(),
                ),
            ],
        };
        pairs
            .into_iter()
            .map(|(key, value)| (format!("{PREFIX}{key}"), value))
            .collect()
    }

    /// Like [`AuthServer::annotations`], but for authentik the earlier revision of its docs:
    /// sign-in `https://<signin_host>/outpost.goauthentik.io/start?rd=$scheme://$http_host$escaped_request_uri`
    /// and `auth-snippet: proxy_set_header X-Forwarded-Host $http_host;` (the proxy has to
    /// expand `$http_host`). The other kinds get the same as [`AuthServer::annotations`].
    pub fn earlier_annotations(&self, signin_host: &str) -> Vec<(String, String)> {
        if self.kind != AuthKind::Authentik {
            return self.annotations(signin_host);
        }
        [
            ("auth-url", self.auth_url()),
            (
                "auth-signin",
                format!(
                    "https://{signin_host}/outpost.goauthentik.io/start\
                     ?rd=$scheme://$http_host$escaped_request_uri"
                ),
            ),
            (
                "auth-response-headers",
                AUTHENTIK_RESPONSE_HEADERS.to_string(),
            ),
            (
                "auth-snippet",
                "proxy_set_header X-Forwarded-Host $http_host;\n".to_string(),
            ),
        ]
        .into_iter()
        .map(|(key, value)| (format!("{PREFIX}{key}"), value))
        .collect()
    }

    /// A `Cookie` header value (`name=value`) of a logged-in session for `user` in `groups`
    /// that this emulator accepts from now on.
    pub fn login(&self, user: &str, groups: &[&str]) -> String {
        let token = self.shared.new_token();
        self.shared.state().sessions.insert(
            token.clone(),
            Session {
                user: user.to_string(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
            },
        );
        format!("{}={token}", self.kind.cookie_name())
    }

    /// From now on `user` is authenticated but not allowed: 403.
    pub fn forbid(&self, user: &str) {
        self.shared.state().forbidden.insert(user.to_string());
    }

    /// From now on every auth request is answered with this status (200..=599, e.g. 500,
    /// 404) and a short body, or normal behaviour again with `None`. Contract violations are
    /// still answered 400.
    pub fn answer_with(&self, status: Option<u16>) {
        if let Some(status) = status {
            assert!(
                (200..=599).contains(&status),
                "answer_with({status}): the emulator answers 200..=599 only"
            );
        }
        self.shared.state().answer_with = status;
    }

    /// From now on (`true`) a successful answer also carries a `Set-Cookie` renewing the
    /// session, as oauth2-proxy does with `--cookie-refresh` once a session is old enough:
    /// `<cookie>=<same value>; Path=/; Expires=…; Max-Age=604800; HttpOnly; Secure; SameSite=Lax`.
    pub fn refresh_cookies(&self, on: bool) {
        self.shared.state().refresh_cookie = on;
    }

    /// Every auth request seen, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.state().seen.clone()
    }

    /// TCP connections accepted so far (the proxy's auth subrequests should reuse pooled ones).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Requests that broke the project's documented contract, one entry per request: the
    /// request line, `: `, and the reasons (joined with `; `). Such requests were answered 400
    /// with the reasons as body.
    pub fn contract_violations(&self) -> Vec<String> {
        self.shared.state().violations.clone()
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        // Receivers may all be gone already; nothing to do then.
        let _ = self.shutdown.send(true);
    }
}

/// authentik's documented `auth-response-headers`.
const AUTHENTIK_RESPONSE_HEADERS: &str = "Set-Cookie,X-authentik-username,X-authentik-groups,\
X-authentik-entitlements,X-authentik-email,X-authentik-name,X-authentik-uid";

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let mut stop = shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // Transient accept errors (e.g. EMFILE) must not kill the emulator.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let (shared, mut stop) = (shared.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => {}
                _ = serve(stream, &shared) => {}
            }
        });
    }
}

/// Reads requests off one connection until it closes, answering each.
async fn serve(mut stream: TcpStream, shared: &Shared) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        while let Some((request, used)) = next_request(&buf) {
            buf.drain(..used);
            let close = wants_close(&request);
            let answer = answer(shared, request).to_bytes(close);
            if stream.write_all(&answer).await.is_err() || close {
                return;
            }
        }
        if buf.len() > MAX_BUFFERED {
            return;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Whether the client asked to close after this request (or spoke HTTP/1.0 without keep-alive).
fn wants_close(request: &SeenRequest) -> bool {
    let connection = request
        .header("connection")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let tokens: Vec<&str> = connection.split(',').map(str::trim).collect();
    if request.line.ends_with("HTTP/1.0") {
        !tokens.contains(&"keep-alive")
    } else {
        tokens.contains(&"close")
    }
}

/// One answer, before framing.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    head_only: bool,
}

impl Answer {
    fn new(status: u16, content_type: Option<&str>, body: impl Into<String>) -> Answer {
        let mut headers = Vec::new();
        if let Some(content_type) = content_type {
            headers.push(("Content-Type".to_string(), content_type.to_string()));
        }
        Answer {
            status,
            headers,
            body: body.into(),
            head_only: false,
        }
    }

    fn text(status: u16, body: impl Into<String>) -> Answer {
        Answer::new(status, Some("text/plain; charset=utf-8"), body)
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Answer {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn to_bytes(&self, close: bool) -> Vec<u8> {
        let reason = http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Status");
        let mut out = format!("HTTP/1.1 {} {reason}\r\n", self.status);
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        let bodiless = self.status == 204 || self.status == 304;
        if !bodiless {
            let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        }
        if close {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        if !bodiless && !self.head_only {
            out.push_str(&self.body);
        }
        out.into_bytes()
    }
}

/// Records `request` and decides the answer.
fn answer(shared: &Shared, request: SeenRequest) -> Answer {
    let kind = shared.kind;
    let parsed = Parsed::new(&request);
    let reasons = contract(kind, &parsed, &request);
    let mut state = shared.state();
    state.seen.push(request.clone());
    let mut answer = if !reasons.is_empty() {
        let reasons = reasons.join("; ");
        state
            .violations
            .push(format!("{}: {reasons}", request.line));
        Answer::text(400, format!("{reasons}\n"))
    } else if let Some(status) = state.answer_with {
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Status");
        Answer::text(status, format!("{status} {reason}\n"))
    } else {
        let session = parsed
            .cookie(kind.cookie_name())
            .and_then(|token| state.sessions.get(&token).map(|s| (token, s.clone())));
        match session {
            None => unauthenticated(shared, &parsed),
            Some((_, session)) if forbidden(kind, &state, &parsed, &session) => {
                forbidden_answer(kind)
            }
            Some((token, session)) => {
                let answer = authorized(kind, &session, &request);
                if state.refresh_cookie {
                    answer.header(
                        "Set-Cookie",
                        format!(
                            "{}={token}; Path=/; Expires={}; Max-Age=604800; HttpOnly; \
                             Secure; SameSite=Lax",
                            kind.cookie_name(),
                            FAR_EXPIRY
                        ),
                    )
                } else {
                    answer
                }
            }
        }
    };
    answer.head_only = parsed.method == "HEAD";
    answer
}

/// A fixed `Expires` for cookies: a test never runs long enough for it to matter.
const FAR_EXPIRY: &str = "Fri, 01 Jan 2100 00:00:00 GMT";

/// The parts of a request the emulators look at.
struct Parsed {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    cookies: Vec<(String, String)>,
    original_url: Option<String>,
    original_method: Option<String>,
    forwarded_method: Option<String>,
    /// `X-Forwarded-Proto`, `-Host` and `-Uri`, when all three are there.
    forwarded: Option<(String, String, String)>,
    /// Whether `Accept` allows `text/html` (no `Accept`: anything goes).
    accepts_html: bool,
    /// `X-Requested-With: XMLHttpRequest`.
    xhr: bool,
}

impl Parsed {
    fn new(request: &SeenRequest) -> Parsed {
        let mut parts = request.line.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key), percent_decode(value))
            })
            .collect();
        let cookies = request
            .headers
            .iter()
            .filter(|(name, _)| name == "cookie")
            .flat_map(|(_, value)| value.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                Some((name.trim().to_string(), value.trim().to_string()))
            })
            .collect();
        let header = |name: &str| request.header(name).filter(|v| !v.is_empty());
        let forwarded = match (
            header("x-forwarded-proto"),
            header("x-forwarded-host"),
            header("x-forwarded-uri"),
        ) {
            (Some(proto), Some(host), Some(uri)) => Some((proto, host, uri)),
            _ => None,
        };
        let accepts_html = header("accept").is_none_or(|accept| {
            accept.split(',').any(|range| {
                let range = range.split(';').next().unwrap_or("").trim();
                range == "text/html" || range == "text/*" || range == "*/*"
            })
        });
        Parsed {
            method,
            path: path.to_string(),
            query,
            cookies,
            original_url: header("x-original-url"),
            original_method: header("x-original-method"),
            forwarded_method: header("x-forwarded-method"),
            forwarded,
            accepts_html,
            xhr: header("x-requested-with")
                .is_some_and(|v| v.eq_ignore_ascii_case("XMLHttpRequest")),
        }
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value of cookie `name` (the first one, as the services' cookie readers take).
    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }
}

/// The reasons `request` breaks `kind`'s documented contract (empty: it keeps it).
fn contract(kind: AuthKind, parsed: &Parsed, request: &SeenRequest) -> Vec<String> {
    let mut reasons = Vec::new();
    if parsed.path != kind.path() {
        reasons.push(format!(
            "path {:?} is not the documented auth endpoint {:?}",
            parsed.path,
            kind.path()
        ));
    }
    let length = request.header("content-length");
    if !request.body.is_empty()
        || request.header("transfer-encoding").is_some()
        || length
            .as_deref()
            .is_some_and(|l| l.split(',').any(|n| n.trim() != "0"))
    {
        reasons.push(format!(
            "an auth subrequest carries no body, this one has {} bytes (content-length {:?}, \
             transfer-encoding {:?})",
            request.body.len(),
            length,
            request.header("transfer-encoding")
        ));
    }
    let header = |name: &str| request.header(name).filter(|v| !v.is_empty());
    match kind {
        AuthKind::AutheliaVerify => {
            if let Some(url) = header("x-original-url") {
                if let Err(why) = AbsoluteUrl::parse(&url) {
                    reasons.push(format!("X-Original-URL {url:?} {why}"));
                }
            } else {
                let missing: Vec<&str> =
                    ["x-forwarded-proto", "x-forwarded-host", "x-forwarded-uri"]
                        .into_iter()
                        .filter(|name| header(name).is_none())
                        .collect();
                if !missing.is_empty() {
                    reasons.push(format!(
                        "no X-Original-URL, and of X-Forwarded-Proto/-Host/-Uri {} missing: \
                         /api/verify cannot tell the target URL",
                        missing.join(", ")
                    ));
                }
            }
        }
        AuthKind::AutheliaAuthRequest => {
            if parsed.method != "GET" {
                reasons.push(format!(
                    "method {} (the documented annotations set auth-method: GET)",
                    parsed.method
                ));
            }
            match header("x-original-url") {
                None => reasons.push("missing X-Original-URL".to_string()),
                Some(url) => {
                    if let Err(why) = AbsoluteUrl::parse(&url) {
                        reasons.push(format!("X-Original-URL {url:?} {why}"));
                    }
                }
            }
            match header("x-original-method") {
                None => reasons.push("missing X-Original-Method".to_string()),
                Some(method) if !is_token(&method) => {
                    reasons.push(format!("X-Original-Method {method:?} is not a method"))
                }
                Some(_) => {}
            }
        }
        AuthKind::Authentik => match header("x-original-url") {
            None => reasons.push("missing X-Original-URL".to_string()),
            Some(url) => match AbsoluteUrl::parse(&url) {
                Err(why) => reasons.push(format!("X-Original-URL {url:?} {why}")),
                Ok(target) => match header("x-forwarded-host") {
                    None => reasons.push(format!(
                        "missing X-Forwarded-Host (the documented auth-snippet sets it; the \
                         outpost matches the application by it), expected {:?}",
                        target.authority
                    )),
                    Some(host) if target.normalized_authority(&host) != target.authority_key() => {
                        reasons.push(format!(
                            "X-Forwarded-Host {host:?} is not the host of X-Original-URL {:?}",
                            target.authority
                        ))
                    }
                    Some(_) => {}
                },
            },
        },
        AuthKind::OAuth2Proxy => {}
    }
    reasons
}

/// Whether the session's user is refused.
fn forbidden(kind: AuthKind, state: &State, parsed: &Parsed, session: &Session) -> bool {
    if state.forbidden.contains(&session.user) {
        return true;
    }
    // oauth2-proxy's /oauth2/auth?allowed_groups=a,b: 403 unless the user is in one of them.
    if kind == AuthKind::OAuth2Proxy {
        if let Some(allowed) = parsed.query("allowed_groups") {
            let allowed: Vec<&str> = allowed.split(',').map(str::trim).collect();
            return !session.groups.iter().any(|g| allowed.contains(&g.as_str()));
        }
    }
    false
}

fn forbidden_answer(kind: AuthKind) -> Answer {
    match kind {
        AuthKind::AutheliaVerify | AuthKind::AutheliaAuthRequest | AuthKind::Authentik => {
            Answer::text(403, "403 Forbidden")
        }
        AuthKind::OAuth2Proxy => Answer::text(403, "Forbidden\n"),
    }
}

fn unauthenticated(shared: &Shared, parsed: &Parsed) -> Answer {
    match shared.kind {
        AuthKind::AutheliaVerify => {
            let target = legacy_target(parsed);
            let html = parsed.accepts_html && !parsed.xhr;
            match (parsed.query("rd"), target) {
                (Some(portal), Some((url, method))) if html && !portal.is_empty() => {
                    let location = authelia_redirection(portal, &url, method.as_deref());
                    let status = match method.as_deref() {
                        None | Some("GET") | Some("OPTIONS") => 302,
                        Some(_) => 303,
                    };
                    let body = format!(
                        "<a href=\"{}\">{status} {}</a>",
                        location.replace('&', "&amp;"),
                        if status == 302 { "Found" } else { "See Other" }
                    );
                    Answer::new(status, Some("text/html; charset=utf-8"), body)
                        .header("Location", location)
                }
                _ => Answer::text(401, "401 Unauthorized"),
            }
        }
        AuthKind::AutheliaAuthRequest => {
            let answer = Answer::text(401, "401 Unauthorized");
            match (parsed.query("authelia_url"), parsed.original_url.as_deref()) {
                (Some(portal), Some(url)) if !portal.is_empty() => {
                    let location =
                        authelia_redirection(portal, url, parsed.original_method.as_deref());
                    answer.header("Location", location)
                }
                _ => answer,
            }
        }
        AuthKind::Authentik => {
            // The outpost saves the URL to come back to in a fresh session, sent as a cookie.
            Answer::text(401, "unauthorized request\n")
                .header("X-Content-Type-Options", "nosniff")
                .header(
                    "Set-Cookie",
                    format!(
                        "{}={}; Path=/; Expires={FAR_EXPIRY}; Max-Age=86400; HttpOnly; SameSite=Lax",
                        shared.kind.cookie_name(),
                        shared.new_token()
                    ),
                )
        }
        AuthKind::OAuth2Proxy => Answer::text(401, "Unauthorized\n"),
    }
}

fn authorized(kind: AuthKind, session: &Session, request: &SeenRequest) -> Answer {
    let user = session.user.as_str();
    let email = format!("{user}@example.test");
    match kind {
        AuthKind::AutheliaVerify | AuthKind::AutheliaAuthRequest => Answer::text(200, "200 OK")
            .header("Remote-User", user)
            .header("Remote-Groups", session.groups.join(","))
            .header("Remote-Name", user)
            .header("Remote-Email", email),
        AuthKind::Authentik => Answer::new(200, None, "")
            .header("X-authentik-username", user)
            .header("X-authentik-groups", session.groups.join("|"))
            .header("X-authentik-entitlements", "")
            .header("X-authentik-email", email)
            .header("X-authentik-name", user)
            .header("X-authentik-uid", uid(user))
            .header("X-authentik-jwt", format!("emulated.{}.jwt", uid(user)))
            .header("X-authentik-meta-jwks", "")
            .header("X-authentik-meta-outpost", "emulated-outpost")
            .header("X-authentik-meta-provider", "emulated-provider")
            .header("X-authentik-meta-app", "emulated-app")
            .header(
                "X-authentik-meta-version",
                "goauthentik.io/outpost/emulated",
            )
            .header(
                "User-Agent",
                request.header("user-agent").unwrap_or_default(),
            ),
        AuthKind::OAuth2Proxy => {
            let answer = Answer::new(202, None, "")
                .header("X-Auth-Request-User", user)
                .header("X-Auth-Request-Email", email)
                .header("X-Auth-Request-Preferred-Username", user);
            if session.groups.is_empty() {
                answer
            } else {
                answer.header("X-Auth-Request-Groups", session.groups.join(","))
            }
        }
    }
}

/// A stable hex id for a user, like the outpost's `X-authentik-uid`.
fn uid(user: &str) -> String {
    // FNV-1a: stable across runs, unlike the std hasher.
    let hash = user.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Authelia's redirection URL: the portal with `rd` (the target) and `rm` (the method) set,
/// keys sorted and values escaped as Go's `url.Values.Encode` does.
fn authelia_redirection(portal: &str, target: &str, method: Option<&str>) -> String {
    let (base, query) = portal.split_once('?').unwrap_or((portal, ""));
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .filter(|(k, _)| k != "rd" && k != "rm")
        .collect();
    pairs.push(("rd".to_string(), target.to_string()));
    if let Some(method) = method {
        pairs.push(("rm".to_string(), method.to_string()));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// The target URL and method Authelia's legacy endpoint uses: `X-Original-URL`, else
/// `X-Forwarded-Proto://X-Forwarded-Host` + `X-Forwarded-Uri`; the method from
/// `X-Original-Method`, else `X-Forwarded-Method`.
fn legacy_target(parsed: &Parsed) -> Option<(String, Option<String>)> {
    let method = parsed
        .original_method
        .clone()
        .or_else(|| parsed.forwarded_method.clone());
    if let Some(url) = &parsed.original_url {
        return Some((url.clone(), method));
    }
    let (proto, host, uri) = parsed.forwarded.clone()?;
    Some((format!("{proto}://{host}{uri}"), method))
}

/// An absolute `http(s)://authority/...` URL, split just enough for the checks.
struct AbsoluteUrl {
    scheme: String,
    authority: String,
}

impl AbsoluteUrl {
    fn parse(url: &str) -> Result<AbsoluteUrl, &'static str> {
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains whitespace or control characters");
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("is not an absolute URL (no scheme://)")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err("has a scheme other than http or https");
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.is_empty() || authority.contains('@') {
            return Err("has no host (or has userinfo)");
        }
        if !rest[end..].is_empty() && !rest[end..].starts_with('/') {
            return Err("has no path");
        }
        Ok(AbsoluteUrl {
            scheme,
            authority: authority.to_string(),
        })
    }

    /// `authority` lowercased, without this URL's scheme's default port.
    fn normalized_authority(&self, authority: &str) -> String {
        let authority = authority.trim().to_ascii_lowercase();
        let default = if self.scheme == "https" {
            ":443"
        } else {
            ":80"
        };
        authority
            .strip_suffix(default)
            .map(str::to_string)
            .unwrap_or(authority)
    }

    fn authority_key(&self) -> String {
        self.normalized_authority(&self.authority)
    }
}

/// An RFC 9110 token (what a method must be).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "https://app.example.test/some/path?q=1";

    fn client() -> reqwest::Client {
        crate::client::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// An auth subrequest shaped as ingress-nginx sends it (plus the authentik snippet's
    /// `X-Forwarded-Host`), with `cookie` if given.
    fn subrequest(
        client: &reqwest::Client,
        server: &AuthServer,
        cookie: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut request = client
            .get(server.auth_url())
            .header("X-Original-URL", TARGET)
            .header("X-Original-Method", "GET")
            .header("X-Original-URI", "/some/path?q=1")
            .header("X-Auth-Request-Redirect", "/some/path?q=1")
            .header("X-Sent-From", "nginx-ingress-controller")
            .header("X-Real-IP", "192.0.2.7")
            .header("X-Forwarded-For", "192.0.2.7")
            .header("User-Agent", "curl/8.0");
        if server.kind() == AuthKind::Authentik {
            request = request.header("X-Forwarded-Host", "app.example.test");
        }
        if let Some(cookie) = cookie {
            request = request.header("Cookie", format!("other=1; {cookie}"));
        }
        request
    }

    fn header(response: &reqwest::Response, name: &str) -> Option<String> {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_string())
    }

    #[tokio::test]
    async fn a_logged_in_session_gets_the_success_status_and_identity_headers() {
        let client = client();
        for kind in AuthKind::ALL {
            let server = AuthServer::start(kind).await.expect("start");
            let cookie = server.login("alice", &["admins", "dev"]);
            assert!(cookie.starts_with(&format!("{}=", kind.cookie_name())));
            let response = subrequest(&client, &server, Some(&cookie))
                .send()
                .await
                .expect("send");
            assert_eq!(
                response.status().as_u16(),
                kind.success_status(),
                "{kind:?}"
            );
            for name in kind.identity_headers() {
                assert!(header(&response, name).is_some(), "{kind:?}: {name}");
            }
            let (user, groups, email) = match kind {
                AuthKind::AutheliaVerify | AuthKind::AutheliaAuthRequest => (
                    "remote-user",
                    ("remote-groups", "admins,dev"),
                    "remote-email",
                ),
                AuthKind::Authentik => (
                    "x-authentik-username",
                    ("x-authentik-groups", "admins|dev"),
                    "x-authentik-email",
                ),
                AuthKind::OAuth2Proxy => (
                    "x-auth-request-user",
                    ("x-auth-request-groups", "admins,dev"),
                    "x-auth-request-email",
                ),
            };
            assert_eq!(
                header(&response, user).as_deref(),
                Some("alice"),
                "{kind:?}"
            );
            assert_eq!(
                header(&response, groups.0).as_deref(),
                Some(groups.1),
                "{kind:?}"
            );
            assert_eq!(
                header(&response, email).as_deref(),
                Some("alice@example.test"),
                "{kind:?}"
            );
            assert!(header(&response, "set-cookie").is_none(), "{kind:?}");
            assert!(server.contract_violations().is_empty(), "{kind:?}");
            let seen = server.requests();
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].line, format!("GET {} HTTP/1.1", kind.path()));
            assert_eq!(seen[0].header("x-original-url").as_deref(), Some(TARGET));
        }
    }

    #[tokio::test]
    async fn no_session_is_401_and_a_forbidden_user_403() {
        let client = client();
        for kind in AuthKind::ALL {
            let server = AuthServer::start(kind).await.expect("start");
            let response = subrequest(&client, &server, None)
                .send()
                .await
                .expect("send");
            assert_eq!(response.status().as_u16(), 401, "{kind:?}");
            // authentik remembers where to go back to in a fresh session cookie.
            let set_cookie = header(&response, "set-cookie");
            assert_eq!(
                set_cookie.is_some(),
                kind == AuthKind::Authentik,
                "{kind:?}"
            );
            let body = response.text().await.expect("body");
            assert!(!body.is_empty() && body.len() < 100, "{kind:?}: {body:?}");

            // A cookie the emulator never handed out is no session either.
            let stale = format!("{}=0123456789abcdef", kind.cookie_name());
            let response = subrequest(&client, &server, Some(&stale))
                .send()
                .await
                .expect("send");
            assert_eq!(response.status().as_u16(), 401, "{kind:?}");

            let cookie = server.login("mallory", &["dev"]);
            server.forbid("mallory");
            let response = subrequest(&client, &server, Some(&cookie))
                .send()
                .await
                .expect("send");
            assert_eq!(response.status().as_u16(), 403, "{kind:?}");
            assert!(server.contract_violations().is_empty(), "{kind:?}");
        }
    }

    #[tokio::test]
    async fn authelia_verify_redirects_to_the_rd_portal_and_auth_request_says_where() {
        let client = client();
        let server = AuthServer::start(AuthKind::AutheliaVerify)
            .await
            .expect("start");
        let url = format!(
            "{}?rd=https%3A%2F%2Fauth.example.test%2F",
            server.auth_url()
        );
        let response = client
            .get(&url)
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "app.example.test")
            .header("X-Forwarded-Uri", "/a b?x=1")
            .header("X-Forwarded-Method", "POST")
            .header("Accept", "text/html,*/*;q=0.8")
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 303);
        assert_eq!(
            header(&response, "location").as_deref(),
            Some("https://auth.example.test/?rd=https%3A%2F%2Fapp.example.test%2Fa+b%3Fx%3D1&rm=POST")
        );
        // An XHR gets the plain 401.
        let response = subrequest(&client, &server, None)
            .header("X-Requested-With", "XMLHttpRequest")
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 401);

        let server = AuthServer::start(AuthKind::AutheliaAuthRequest)
            .await
            .expect("start");
        let url = format!(
            "{}?authelia_url=https://auth.example.test/",
            server.auth_url()
        );
        let response = client
            .get(&url)
            .header("X-Original-URL", TARGET)
            .header("X-Original-Method", "GET")
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 401);
        assert_eq!(
            header(&response, "location").as_deref(),
            Some("https://auth.example.test/?rd=https%3A%2F%2Fapp.example.test%2Fsome%2Fpath%3Fq%3D1&rm=GET")
        );
    }

    #[tokio::test]
    async fn contract_breaches_are_400_with_the_reason_and_recorded() {
        let client = client();
        // (kind, request, a word the reason must contain)
        type Build = fn(&reqwest::Client, &AuthServer) -> reqwest::RequestBuilder;
        let cases: Vec<(AuthKind, Build, &str)> = vec![
            (
                AuthKind::AutheliaVerify,
                |c, s| c.get(s.auth_url()),
                "X-Forwarded-Proto",
            ),
            (
                AuthKind::AutheliaVerify,
                |c, s| c.get(s.auth_url()).header("X-Original-URL", "/only/a/path"),
                "absolute",
            ),
            (
                AuthKind::AutheliaAuthRequest,
                |c, s| c.get(s.auth_url()).header("X-Original-URL", TARGET),
                "X-Original-Method",
            ),
            (
                AuthKind::AutheliaAuthRequest,
                |c, s| {
                    c.post(s.auth_url())
                        .header("X-Original-URL", TARGET)
                        .header("X-Original-Method", "POST")
                },
                "auth-method",
            ),
            (
                AuthKind::Authentik,
                |c, s| c.get(s.auth_url()).header("X-Original-URL", TARGET),
                "X-Forwarded-Host",
            ),
            (
                AuthKind::Authentik,
                |c, s| {
                    c.get(s.auth_url())
                        .header("X-Original-URL", TARGET)
                        .header("X-Forwarded-Host", "other.example.test")
                },
                "not the host",
            ),
            (
                AuthKind::OAuth2Proxy,
                |c, s| c.post(s.auth_url()).body("user=alice"),
                "body",
            ),
            (
                AuthKind::OAuth2Proxy,
                |c, s| c.get(format!("http://{}/oauth2/start", s.addr())),
                "path",
            ),
        ];
        for (kind, request, word) in cases {
            let server = AuthServer::start(kind).await.expect("start");
            let response = request(&client, &server).send().await.expect("send");
            assert_eq!(response.status().as_u16(), 400, "{kind:?} {word}");
            let body = response.text().await.expect("body");
            assert!(body.contains(word), "{kind:?}: {body:?} lacks {word:?}");
            let violations = server.contract_violations();
            assert_eq!(violations.len(), 1, "{kind:?}: {violations:?}");
            assert!(violations[0].contains(word), "{violations:?}");
            assert_eq!(server.requests().len(), 1);
        }
    }

    #[tokio::test]
    async fn authentik_accepts_the_default_port_either_way_but_not_another() {
        let client = client();
        let server = AuthServer::start(AuthKind::Authentik).await.expect("start");
        for (url, host, ok) in [
            ("https://App.example.test:443/", "app.example.test", true),
            (
                "http://app.example.test:8080/x",
                "app.example.test:8080",
                true,
            ),
            ("http://app.example.test:8080/x", "app.example.test", false),
        ] {
            let response = client
                .get(server.auth_url())
                .header("X-Original-URL", url)
                .header("X-Forwarded-Host", host)
                .send()
                .await
                .expect("send");
            assert_eq!(response.status().as_u16() != 400, ok, "{url} {host}");
        }
    }

    #[tokio::test]
    async fn keep_alive_reuses_one_connection_and_answer_with_overrides() {
        let client = client();
        let server = AuthServer::start(AuthKind::OAuth2Proxy)
            .await
            .expect("start");
        let cookie = server.login("bob", &[]);
        for _ in 0..5 {
            let response = subrequest(&client, &server, Some(&cookie))
                .send()
                .await
                .expect("send");
            assert_eq!(response.status().as_u16(), 202);
            assert!(header(&response, "x-auth-request-groups").is_none());
            assert_eq!(response.bytes().await.expect("body").len(), 0);
        }
        server.answer_with(Some(500));
        let response = subrequest(&client, &server, Some(&cookie))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 500);
        assert_eq!(
            response.text().await.expect("body"),
            "500 Internal Server Error\n"
        );
        server.answer_with(None);
        server.refresh_cookies(true);
        let response = subrequest(&client, &server, Some(&cookie))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 202);
        let set_cookie = header(&response, "set-cookie").expect("refresh cookie");
        assert!(
            set_cookie.starts_with(&format!("{cookie};")),
            "{set_cookie}"
        );
        assert_eq!(server.requests().len(), 7);
        assert_eq!(server.connections(), 1);

        // `Connection: close` is honoured: the next request needs a new connection.
        let response = subrequest(&client, &server, Some(&cookie))
            .header("Connection", "close")
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 202);
        let response = subrequest(&client, &server, Some(&cookie))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 202);
        assert_eq!(server.connections(), 2);
    }

    #[tokio::test]
    async fn oauth2_proxy_allowed_groups_refuses_users_outside_them() {
        let client = client();
        let server = AuthServer::start(AuthKind::OAuth2Proxy)
            .await
            .expect("start");
        let admin = server.login("ann", &["admins"]);
        let dev = server.login("dan", &["dev"]);
        let url = format!("{}?allowed_groups=admins,ops", server.auth_url());
        for (cookie, status) in [(&admin, 202), (&dev, 403)] {
            let response = client
                .get(&url)
                .header("Cookie", cookie.as_str())
                .send()
                .await
                .expect("send");
            assert_eq!(response.status().as_u16(), status, "{cookie}");
        }
    }

    #[tokio::test]
    async fn dropping_the_server_closes_its_listener() {
        let server = AuthServer::start(AuthKind::AutheliaVerify)
            .await
            .expect("start");
        let addr = server.addr();
        drop(server);
        let mut refused = false;
        for _ in 0..50 {
            if TcpStream::connect(addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused, "{addr} still accepts after drop");
    }

    #[tokio::test]
    async fn annotations_follow_each_projects_docs() {
        let find = |annotations: &[(String, String)], key: &str| {
            annotations
                .iter()
                .find(|(k, _)| k == &format!("{PREFIX}{key}"))
                .map(|(_, v)| v.clone())
        };
        for kind in AuthKind::ALL {
            let server = AuthServer::start(kind).await.expect("start");
            let annotations = server.annotations("auth.example.test");
            assert!(annotations.iter().all(|(k, _)| k.starts_with(PREFIX)));
            assert_eq!(find(&annotations, "auth-url"), Some(server.auth_url()));
            let signin = find(&annotations, "auth-signin").expect("auth-signin");
            let headers = find(&annotations, "auth-response-headers").expect("headers");
            match kind {
                AuthKind::AutheliaVerify | AuthKind::AutheliaAuthRequest => {
                    assert_eq!(signin, "https://auth.example.test?rm=$request_method");
                    assert_eq!(find(&annotations, "auth-method").as_deref(), Some("GET"));
                    assert_eq!(
                        headers,
                        "Remote-User,Remote-Name,Remote-Groups,Remote-Email"
                    );
                }
                AuthKind::Authentik => {
                    assert_eq!(
                        signin,
                        "https://auth.example.test/outpost.goauthentik.io/start\
                         ?rd=$scheme://auth.example.test$escaped_request_uri"
                    );
                    let snippet = find(&annotations, "auth-snippet").expect("snippet");
                    assert!(snippet
                        .ends_with("\nproxy_set_header X-Forwarded-Host auth.example.test;\n"));
                    assert!(headers.starts_with("Set-Cookie,X-authentik-username,"));
                    let earlier = server.earlier_annotations("auth.example.test");
                    assert_eq!(
                        find(&earlier, "auth-snippet").as_deref(),
                        Some("proxy_set_header X-Forwarded-Host $http_host;\n")
                    );
                }
                AuthKind::OAuth2Proxy => {
                    assert_eq!(signin, "https://$host/oauth2/start?rd=$escaped_request_uri");
                    assert_eq!(headers, "x-auth-request-user, x-auth-request-email");
                }
            }
        }
    }

    #[test]
    fn escapes_and_decodes_like_go() {
        assert_eq!(
            query_escape("https://a.test/a b?x=1&y"),
            "https%3A%2F%2Fa.test%2Fa+b%3Fx%3D1%26y"
        );
        assert_eq!(percent_decode("a%2Fb+c%zz%"), "a/b c%zz%");
        assert_eq!(
            authelia_redirection("https://auth.test/?z=1&rd=old", "https://a.test/", None),
            "https://auth.test/?rd=https%3A%2F%2Fa.test%2F&z=1"
        );
    }
}
