//! External authentication (`auth-url`, or the global auth URL), the one step that waits:
//! a subrequest asks the auth service about the request, and its status decides — 2xx: the
//! request goes on, with the listed headers of the answer set on the upstream request; 401:
//! a redirect to the sign-in URL when there is one, else 401; 403: 403; anything else, or an
//! auth service that cannot be reached or does not answer in time: 500. Never a pass.

pub mod client;
pub mod subrequest;

use std::ops::ControlFlow;

use http::header::{HeaderName, HeaderValue, SET_COOKIE, WWW_AUTHENTICATE};
use pingora::http::{RequestHeader, ResponseHeader};

use gatehouse_metrics::AuthOutcome;

use super::{Answer, Flow};
use crate::routes::forward_auth::{ForwardAuth, RequestVars, Verdict};
use crate::service::ClassProxy;
use crate::service::{headers, RequestCtx};
use client::{AuthClient, Target};

/// Asks the route's auth service, if it has one, whether the request may pass, and counts
/// the outcome (`gatehouse_auth_requests_total`).
pub async fn step(proxy: &ClassProxy, req: &RequestHeader, ctx: &mut RequestCtx) -> Flow {
    let Some(auth) = ctx
        .target
        .as_ref()
        .and_then(|t| t.policy.forward_auth.clone())
    else {
        return ControlFlow::Continue(());
    };
    let flow = ask(&proxy.auth, &proxy.limits, &auth, req, ctx).await;
    if let Some(m) = &proxy.options.metrics {
        let outcome = match &flow {
            ControlFlow::Continue(()) => AuthOutcome::Allowed,
            ControlFlow::Break(Answer::Auth { status: 403, .. }) => AuthOutcome::Forbidden,
            ControlFlow::Break(Answer::Auth { .. }) => AuthOutcome::SignIn,
            ControlFlow::Break(_) => AuthOutcome::Failed,
        };
        m.auth_request(&proxy.class, outcome);
    }
    flow
}

async fn ask(
    client: &AuthClient,
    limits: &crate::limits::Limits,
    auth: &ForwardAuth,
    req: &RequestHeader,
    ctx: &mut RequestCtx,
) -> Flow {
    let Some(target) = &ctx.target else {
        return ControlFlow::Continue(());
    };
    let connect = target
        .policy
        .connect_timeout
        .unwrap_or(limits.proxy_connect_timeout);
    let vars = RequestVars {
        method: req.method.as_str(),
        path: req.uri.path(),
        query: req.uri.query(),
        authority: headers::request_host(req),
        headers: &req.headers,
        tls: ctx.https,
        client_ip: ctx.client_ip,
        request_id: ctx.request_id(),
    };
    let url = auth.url.render(&vars);
    let Some(dest) = Target::parse(&url) else {
        tracing::warn!(
            url,
            "auth-url does not render to an http(s) URL; answering 500"
        );
        return failed();
    };
    let sub = match subrequest::build(auth, &dest, req, &vars) {
        Ok(sub) => sub,
        Err(e) => {
            tracing::warn!(
                url,
                "auth subrequest could not be built; answering 500: {e}"
            );
            return failed();
        }
    };
    let answer = match client.ask(&dest, sub, connect, limits.auth_timeout).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(url, "auth service failed; answering 500: {e}");
            return failed();
        }
    };
    // The auth answer's cookies reach the client with a sign-in URL, as ingress-nginx's
    // `auth_request_set $auth_cookie` + `add_header Set-Cookie` (oauth2-proxy refreshes its
    // session this way).
    let cookies = || -> Vec<(HeaderName, HeaderValue)> {
        if auth.signin.is_none() && !auth.always_set_cookie {
            return Vec::new();
        }
        answer
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| (SET_COOKIE, v.clone()))
            .collect()
    };
    match Verdict::of(answer.status) {
        Verdict::Allow => {
            ctx.auth_upstream_headers = auth
                .response_headers
                .iter()
                .flat_map(|name| {
                    answer
                        .headers
                        .get_all(name)
                        .iter()
                        .map(move |v| (name.clone(), v.clone()))
                })
                .collect();
            ctx.auth_cookies = cookies();
            ControlFlow::Continue(())
        }
        Verdict::SignIn => {
            let mut extra = cookies();
            if let Some(signin) = &auth.signin {
                let location = signin.render(&vars);
                return ControlFlow::Break(Answer::Auth {
                    status: 302,
                    body: "",
                    location: Some(location),
                    headers: extra,
                });
            }
            if let Some(challenge) = answer.headers.get(WWW_AUTHENTICATE) {
                extra.push((WWW_AUTHENTICATE, challenge.clone()));
            }
            ControlFlow::Break(Answer::Auth {
                status: 401,
                body: "401 authorization required\n",
                location: None,
                headers: extra,
            })
        }
        Verdict::Forbidden => ControlFlow::Break(Answer::Auth {
            status: 403,
            body: "403 forbidden\n",
            location: None,
            headers: if auth.always_set_cookie {
                cookies()
            } else {
                Vec::new()
            },
        }),
        Verdict::Failed => {
            tracing::warn!(
                url,
                status = answer.status,
                "auth service answered neither 2xx, 401 nor 403; answering 500"
            );
            failed()
        }
    }
}

fn failed() -> Flow {
    ControlFlow::Break(Answer::Text {
        status: 500,
        body: "500 the authentication service failed\n",
    })
}

/// Statuses nginx's `add_header` (without `always`) adds headers to.
fn adds_headers(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// Adds the auth answer's cookies to the client's response, as nginx's `add_header` would:
/// on successful answers and redirects, or on every answer with `auth-always-set-cookie`.
pub fn add_cookies(
    always: bool,
    cookies: &[(HeaderName, HeaderValue)],
    response: &mut ResponseHeader,
) -> pingora::Result<()> {
    if cookies.is_empty() || !(always || adds_headers(response.status.as_u16())) {
        return Ok(());
    }
    for (name, value) in cookies {
        response.append_header(name.clone(), value.clone())?;
    }
    Ok(())
}
