//! External authentication (`auth-url`) end to end, through the real binary with the manifests
//! source, against emulators of the three auth services home labs put in front of their apps
//! (testkit's `auth_server`: Authelia's two endpoints, Authentik's outpost, oauth2-proxy), each
//! configured with the annotations its project documents:
//! - signed out: the redirect to the sign-in URL with the original URL (`rd=`), variables
//!   filled in; signed in: the backend answers and sees the identity headers the auth service
//!   sent, never ones the client sent; forbidden: 403;
//! - the subrequest carries what each service needs (an emulator records every breach of its
//!   contract) and never what the client claimed (`X-Original-URL`, `X-Forwarded-Host`);
//! - auth subrequests reuse pooled connections;
//! - failures fail closed: an auth service that is down, hangs, or answers anything but
//!   2xx/401/403 gives 500, never a pass; 401 without a sign-in URL is 401;
//! - the global auth URL (`--global-auth-url`) guards Ingresses without their own, except those
//!   that opt out.

use std::path::Path;

use gatehouse_testkit::auth_server::{AuthKind, AuthServer};
use gatehouse_testkit::client::{client_builder, Reply};
use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, Fixture, InstanceSpec};

const NS: &str = "default";
const CLASS: &str = "web";
const NGINX: &str = "nginx.ingress.kubernetes.io/";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// An Ingress `name` for host `host` → Service `echo`, with these annotations (full keys).
fn ingress(name: &str, host: &str, annotations: &[(String, String)]) -> (String, String) {
    let mut ing = Ingress::new(NS, name).class(CLASS);
    for (key, value) in annotations {
        ing = ing.annotation(key, value);
    }
    let yaml = ing.path(host, "/", PathType::Prefix, "echo", "http").yaml();
    (format!("{name}.yaml"), yaml)
}

async fn start(
    files: Vec<(String, String)>,
    instance: InstanceSpec,
    args: &[&str],
) -> anyhow::Result<Fixture> {
    let files: Vec<(&str, String)> = files.iter().map(|(n, y)| (n.as_str(), y.clone())).collect();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    Fixture::start_with_args(bin(), vec![instance], &files, &args).await
}

/// A request to `host` + `path` with extra headers; redirects are not followed.
async fn send(
    fixture: &Fixture,
    method: reqwest::Method,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&'static str>,
) -> anyhow::Result<Reply> {
    let client = client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut request = client
        .request(method, format!("http://{}{path}", fixture.http(CLASS)))
        .header(reqwest::header::HOST, host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    Reply::read(request.send().await?).await
}

async fn get(
    fixture: &Fixture,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<Reply> {
    send(fixture, reqwest::Method::GET, host, path, headers, None).await
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The Location a signed-out GET of `http://app.test/docs/page?x=1` is sent to, for each
/// kind's documented `auth-signin` (ingress-nginx adds `rd=` unless the URL has it).
fn expected_signin(kind: AuthKind) -> &'static str {
    match kind {
        AuthKind::AutheliaVerify | AuthKind::AutheliaAuthRequest => {
            "https://auth.example.test?rm=GET&rd=http://app.test%2Fdocs%2Fpage%3Fx%3D1"
        }
        AuthKind::Authentik => {
            "https://app.test/outpost.goauthentik.io/start?rd=http://app.test%2Fdocs%2Fpage%3Fx%3D1"
        }
        AuthKind::OAuth2Proxy => "https://app.test/oauth2/start?rd=%2Fdocs%2Fpage%3Fx%3D1",
    }
}

/// Signed out, signed in, spoofing, forbidden and pooling for one kind of auth service.
async fn documented_shape_works(kind: AuthKind) -> anyhow::Result<()> {
    let auth = AuthServer::start(kind).await?;
    let (echo, echo_yaml) = echo_service(NS, "echo", "127.0.0.1").await?;
    let signin_host = match kind {
        AuthKind::AutheliaVerify | AuthKind::AutheliaAuthRequest => "auth.example.test",
        AuthKind::Authentik | AuthKind::OAuth2Proxy => "app.test",
    };
    let files = vec![
        ("echo.yaml".to_string(), echo_yaml),
        ingress("app", "app.test", &auth.annotations(signin_host)),
    ];
    let fixture = start(
        files,
        InstanceSpec::http(CLASS, free_addr("127.0.0.1")),
        &[],
    )
    .await?;
    let page = "/docs/page?x=1";

    // Signed out: the sign-in redirect, and nothing reaches the backend.
    let reply = get(&fixture, "app.test", page, &[]).await?;
    assert_eq!(
        reply.status,
        302,
        "{kind:?} signed out: {}",
        reply.summary()
    );
    assert_eq!(
        header(&reply, "location"),
        Some(expected_signin(kind)),
        "{kind:?}"
    );
    assert_eq!(
        echo.hits(),
        0,
        "{kind:?}: a signed-out request reached the backend"
    );

    // Signed in: the backend answers with the auth service's identity headers, also when the
    // client sends its own versions of them and of the headers the auth service decides on.
    let cookie = auth.login("alice", &["admins", "dev"]);
    let mut spoofed: Vec<(&str, &str)> = kind
        .identity_headers()
        .iter()
        .map(|name| (*name, "mallory"))
        .collect();
    spoofed.extend([
        ("cookie", cookie.as_str()),
        ("x-original-url", "http://admin.test/"),
        ("x-forwarded-host", "admin.test"),
        ("x-forwarded-uri", "/admin"),
    ]);
    let reply = get(&fixture, "app.test", page, &spoofed).await?;
    assert_eq!(reply.status, 200, "{kind:?} signed in: {}", reply.summary());
    assert_eq!(reply.backend().as_deref(), Some("echo"));
    let user_header = match kind {
        AuthKind::AutheliaVerify | AuthKind::AutheliaAuthRequest => "remote-user",
        AuthKind::Authentik => "x-authentik-username",
        AuthKind::OAuth2Proxy => "x-auth-request-user",
    };
    assert_eq!(
        reply.echoed_header(user_header).as_deref(),
        Some("alice"),
        "{kind:?}: the backend sees the auth service's user"
    );
    for name in kind.identity_headers() {
        let seen = reply.echoed_header(name);
        assert_ne!(
            seen.as_deref(),
            Some("mallory"),
            "{kind:?}: the client's own {name} reached the backend"
        );
    }
    if kind == AuthKind::Authentik {
        // Sent by the outpost but not listed in auth-response-headers: not copied.
        assert_eq!(reply.echoed_header("x-authentik-jwt"), None);
    }
    let asked = auth.requests();
    let last = asked.last().expect("the auth service was asked");
    assert_eq!(
        last.header("x-original-url").as_deref(),
        Some("http://app.test/docs/page?x=1"),
        "{kind:?}: the auth service decides on the real URL"
    );
    assert_eq!(last.header("x-forwarded-host").as_deref(), Some("app.test"));
    assert_eq!(last.header("x-forwarded-uri").as_deref(), Some(page));

    // Forbidden users get 403.
    auth.forbid("bob");
    let bob = auth.login("bob", &[]);
    let reply = get(&fixture, "app.test", page, &[("cookie", bob.as_str())]).await?;
    assert_eq!(reply.status, 403, "{kind:?} forbidden: {}", reply.summary());

    // Sequential requests reuse pooled connections to the auth service.
    let before = auth.connections();
    for _ in 0..20 {
        let reply = get(&fixture, "app.test", "/", &[("cookie", cookie.as_str())]).await?;
        assert_eq!(reply.status, 200, "{kind:?}: {}", reply.summary());
    }
    let opened = auth.connections() - before;
    assert!(
        opened <= 2,
        "{kind:?}: 20 auth subrequests opened {opened} connections"
    );
    assert_eq!(auth.contract_violations(), Vec::<String>::new(), "{kind:?}");
    Ok(())
}

#[tokio::test]
async fn authelia_verify_endpoint() -> anyhow::Result<()> {
    documented_shape_works(AuthKind::AutheliaVerify).await
}

#[tokio::test]
async fn authelia_auth_request_endpoint() -> anyhow::Result<()> {
    documented_shape_works(AuthKind::AutheliaAuthRequest).await
}

#[tokio::test]
async fn authentik_outpost() -> anyhow::Result<()> {
    documented_shape_works(AuthKind::Authentik).await
}

#[tokio::test]
async fn oauth2_proxy() -> anyhow::Result<()> {
    documented_shape_works(AuthKind::OAuth2Proxy).await
}

/// Failures never pass: auth down, hanging, or answering an unexpected status is 500; 401
/// without a sign-in URL reaches the client as 401; a request body never goes to the auth
/// service but does reach the backend; the auth answer's cookies reach the client with a
/// sign-in URL (oauth2-proxy refreshes its session so).
#[tokio::test]
async fn failures_fail_closed() -> anyhow::Result<()> {
    let auth = AuthServer::start(AuthKind::OAuth2Proxy).await?;
    let (echo, echo_yaml) = echo_service(NS, "echo", "127.0.0.1").await?;
    let (silent, _silent_task) = gatehouse_testkit::net::silent_backend("127.0.0.1").await?;
    let down = free_addr("127.0.0.1");
    let url = |a: &str| vec![(format!("{NGINX}auth-url"), a.to_string())];
    let files = vec![
        ("echo.yaml".to_string(), echo_yaml),
        // The documented shape, with a variable in auth-url as oauth2-proxy's docs have one.
        ingress("app", "app.test", &{
            let mut a = auth.annotations("app.test");
            for (key, value) in &mut a {
                if key.ends_with("/auth-url") {
                    *value = format!("{value}?host=$host");
                }
            }
            a
        }),
        ingress("plain401", "plain.test", &url(&auth.auth_url())),
        ingress(
            "down",
            "down.test",
            &url(&format!("http://{down}/oauth2/auth")),
        ),
        ingress(
            "hang",
            "hang.test",
            &url(&format!("http://{silent}/oauth2/auth")),
        ),
    ];
    let instance = InstanceSpec::http(CLASS, free_addr("127.0.0.1")).setting("auth-timeout", "1s");
    let fixture = start(files, instance, &[]).await?;

    let reply = get(&fixture, "plain.test", "/", &[]).await?;
    assert_eq!(reply.status, 401, "no sign-in URL: {}", reply.summary());
    for host in ["down.test", "hang.test"] {
        let reply = get(&fixture, host, "/", &[]).await?;
        assert_eq!(reply.status, 500, "{host}: {}", reply.summary());
    }
    let cookie = auth.login("alice", &[]);
    for status in [500, 404, 302, 200] {
        auth.answer_with(Some(status));
        let reply = get(&fixture, "app.test", "/", &[("cookie", cookie.as_str())]).await?;
        let want = if status == 200 { 200 } else { 500 };
        assert_eq!(
            reply.status,
            want,
            "auth answers {status}: {}",
            reply.summary()
        );
    }
    auth.answer_with(None);
    assert_eq!(
        auth.requests()
            .last()
            .and_then(|r| r.line.split(' ').nth(1).map(str::to_string)),
        Some("/oauth2/auth?host=app.test".to_string()),
        "variables in auth-url are filled in"
    );

    // A POST body goes to the backend only (the emulator records a body as a breach).
    let reply = send(
        &fixture,
        reqwest::Method::POST,
        "app.test",
        "/upload",
        &[("cookie", cookie.as_str())],
        Some("0123456789"),
    )
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.body_len(), Some(10));
    let sub = auth.requests();
    let sub = sub.last().expect("asked");
    assert!(sub.line.starts_with("POST "), "{}", sub.line);
    assert!(sub.body.is_empty());

    // The session refresh's cookie reaches the client.
    auth.refresh_cookies(true);
    let reply = get(&fixture, "app.test", "/", &[("cookie", cookie.as_str())]).await?;
    assert_eq!(reply.status, 200);
    let set_cookie = header(&reply, "set-cookie").unwrap_or_default();
    assert!(set_cookie.starts_with("_oauth2_proxy="), "{set_cookie:?}");
    assert_eq!(auth.contract_violations(), Vec::<String>::new());
    assert!(echo.hits() >= 2);

    // Each outcome is counted for the graphs.
    let samples = gatehouse_testkit::prom::scrape(fixture.admin).await?;
    let count = |result: &str| {
        gatehouse_testkit::prom::value(
            &samples,
            "gatehouse_auth_requests_total",
            &[("class", CLASS), ("result", result)],
        )
    };
    // down, hang, and the 500/404/302 answers.
    assert_eq!(count("failed"), 5.0);
    assert_eq!(count("sign_in"), 1.0, "plain.test's 401");
    assert_eq!(
        count("allowed"),
        3.0,
        "the 200 answer, the POST, the refresh"
    );
    Ok(())
}

/// `--global-auth-url` guards every Ingress without its own auth-url, except one that says
/// `enable-global-auth: "false"`; an invalid global value stops the process with its flag named.
#[tokio::test]
async fn global_auth_url() -> anyhow::Result<()> {
    let global = AuthServer::start(AuthKind::AutheliaAuthRequest).await?;
    let own = AuthServer::start(AuthKind::OAuth2Proxy).await?;
    let (_echo, echo_yaml) = echo_service(NS, "echo", "127.0.0.1").await?;
    let files = vec![
        ("echo.yaml".to_string(), echo_yaml),
        ingress("guarded", "guarded.test", &[]),
        ingress(
            "optout",
            "open.test",
            &[(format!("{NGINX}enable-global-auth"), "false".to_string())],
        ),
        ingress(
            "own",
            "own.test",
            &[(format!("{NGINX}auth-url"), own.auth_url())],
        ),
    ];
    let url = global.auth_url();
    let args = [
        "--global-auth-url",
        url.as_str(),
        "--global-auth-method",
        "GET",
        "--global-auth-signin",
        "https://auth.example.test",
        "--global-auth-response-headers",
        "Remote-User",
    ];
    let fixture = start(
        files,
        InstanceSpec::http(CLASS, free_addr("127.0.0.1")),
        &args,
    )
    .await?;

    let reply = get(&fixture, "guarded.test", "/", &[]).await?;
    assert_eq!(reply.status, 302, "{}", reply.summary());
    assert_eq!(
        header(&reply, "location"),
        Some("https://auth.example.test?rd=http://guarded.test%2F")
    );
    let cookie = global.login("alice", &[]);
    let reply = get(
        &fixture,
        "guarded.test",
        "/",
        &[("cookie", cookie.as_str())],
    )
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.echoed_header("remote-user").as_deref(), Some("alice"));

    let reply = get(&fixture, "open.test", "/", &[]).await?;
    assert_eq!(reply.status, 200, "opted out: {}", reply.summary());

    // An Ingress with its own auth-url asks only its own service.
    let asked_global = global.requests().len();
    let reply = get(&fixture, "own.test", "/", &[]).await?;
    assert_eq!(reply.status, 401, "{}", reply.summary());
    assert_eq!(own.requests().len(), 1);
    assert_eq!(global.requests().len(), asked_global);
    assert_eq!(global.contract_violations(), Vec::<String>::new());

    // A bad global value is a start-up error naming the flag.
    let out = tokio::process::Command::new(bin())
        .args([
            "--check-config",
            "--instance",
            "class=web,http=127.0.0.1:0",
            "--global-auth-url",
            "http://a/",
            "--global-auth-snippet",
            "return 200;",
        ])
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--global-auth-snippet"), "{stderr}");
    Ok(())
}

/// An HTTP/2 request (h2c, authority instead of Host) is authenticated like an HTTP/1 one.
#[tokio::test]
async fn http2_requests_are_authenticated_too() -> anyhow::Result<()> {
    let auth = AuthServer::start(AuthKind::AutheliaAuthRequest).await?;
    let (_echo, echo_yaml) = echo_service(NS, "echo", "127.0.0.1").await?;
    let files = vec![
        ("echo.yaml".to_string(), echo_yaml),
        ingress("app", "app.test", &auth.annotations("auth.example.test")),
    ];
    let fixture = start(
        files,
        InstanceSpec::http(CLASS, free_addr("127.0.0.1")),
        &[],
    )
    .await?;
    // The authority names the host (no Host header), as HTTP/2 clients send it.
    let addr = fixture.http(CLASS);
    let client = client_builder()
        .http2_prior_knowledge()
        .resolve("app.test", addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let send = |cookie: Option<String>| {
        let mut request = client.get(format!("http://app.test:{}/h2?x=1", addr.port()));
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        request.send()
    };
    let reply = Reply::read(send(None).await?).await?;
    assert_eq!(reply.status, 302, "{}", reply.summary());
    let reply = Reply::read(send(Some(auth.login("alice", &[]))).await?).await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.echoed_header("remote-user").as_deref(), Some("alice"));
    assert_eq!(reply.echoed("version").as_deref(), Some("HTTP/1.1"));
    let last = auth.requests();
    let last = last.last().expect("asked");
    assert_eq!(
        last.header("x-original-url").as_deref(),
        Some(format!("http://app.test:{}/h2?x=1", addr.port()).as_str())
    );
    assert_eq!(auth.contract_violations(), Vec::<String>::new());
    Ok(())
}
