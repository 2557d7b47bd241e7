//! External authentication, ingress-nginx's `auth-url` family: before a request is forwarded,
//! a subrequest asks an auth service (Authelia, Authentik, oauth2-proxy…) whether it may pass.
//! This is the typed policy; the proxy's `forward_auth` step carries it out.

mod template;

use std::sync::Arc;

pub use template::{escape_uri, RequestVars, Template, Variable};

/// ingress-nginx's name of the sign-in URL's parameter that carries the original URL.
pub const DEFAULT_REDIRECT_PARAM: &str = "rd";

/// One route's external authentication.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ForwardAuth {
    /// Where the subrequest goes (`auth-url`), an http(s) URL that may hold variables.
    pub url: Template,
    /// The subrequest's method (`auth-method`); `None`: the request's own.
    pub method: Option<http::Method>,
    /// Where a 401 from the auth service redirects (`auth-signin`), the original-URL
    /// parameter already added as ingress-nginx adds it; `None`: the 401 goes to the client.
    pub signin: Option<Template>,
    /// Headers of a 2xx auth answer set on the upstream request (`auth-response-headers`);
    /// the client's own values of these names never reach the backend.
    pub response_headers: Arc<[http::HeaderName]>,
    /// The subrequest's `X-Auth-Request-Redirect` (`auth-request-redirect`); `None`:
    /// `$request_uri`.
    pub request_redirect: Option<Template>,
    /// Headers set on the subrequest after gatehouse's own (`auth-snippet`'s
    /// `proxy_set_header` lines); an empty value removes the header, as in nginx.
    pub set_headers: Arc<[(http::HeaderName, Template)]>,
    /// The auth answer's `Set-Cookie` is added to every response, not only to successful
    /// ones and redirects (`auth-always-set-cookie`).
    pub always_set_cookie: bool,
}

impl ForwardAuth {
    /// A policy asking `url` with everything else at ingress-nginx's defaults.
    pub fn new(url: Template) -> Self {
        Self {
            url,
            method: None,
            signin: None,
            response_headers: Arc::from([]),
            request_redirect: None,
            set_headers: Arc::from([]),
            always_set_cookie: false,
        }
    }
}

/// What the auth service's status means for the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the request goes on.
    Allow,
    /// 401: sign in (a redirect when `auth-signin` is set, else 401).
    SignIn,
    /// 403: refused.
    Forbidden,
    /// Anything else: the auth service failed; the request gets 500, never a pass.
    Failed,
}

impl Verdict {
    /// The verdict of an auth answer with this status.
    pub fn of(status: u16) -> Verdict {
        match status {
            200..=299 => Verdict::Allow,
            401 => Verdict::SignIn,
            403 => Verdict::Forbidden,
            _ => Verdict::Failed,
        }
    }
}

/// The sign-in URL with the original URL added as ingress-nginx's `buildAuthSignURL` adds
/// it: `?PARAM=…` when the URL has no query, nothing when the query already sets `PARAM`,
/// else `&PARAM=…`.
pub fn signin_with_redirect(signin: &str, param: &str) -> String {
    const ORIGINAL: &str = "$pass_access_scheme://$http_host$escaped_request_uri";
    let without_fragment = signin.split('#').next().unwrap_or(signin);
    match without_fragment.split_once('?') {
        None => format!("{signin}?{param}={ORIGINAL}"),
        Some((_, "")) => format!("{signin}{param}={ORIGINAL}"),
        Some((_, query)) => {
            let has_param = query.split('&').any(|pair| {
                pair.split_once('=')
                    .is_some_and(|(k, v)| k == param && !v.is_empty())
            });
            if has_param {
                signin.to_string()
            } else {
                format!("{signin}&{param}={ORIGINAL}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_by_status() {
        for (status, want) in [
            (200, Verdict::Allow),
            (202, Verdict::Allow),
            (204, Verdict::Allow),
            (401, Verdict::SignIn),
            (403, Verdict::Forbidden),
            (302, Verdict::Failed),
            (404, Verdict::Failed),
            (500, Verdict::Failed),
            (100, Verdict::Failed),
        ] {
            assert_eq!(Verdict::of(status), want, "{status}");
        }
    }

    #[test]
    fn signin_gets_the_original_url_as_ingress_nginx_adds_it() {
        let o = "$pass_access_scheme://$http_host$escaped_request_uri";
        let cases = [
            (
                "https://auth.example.com",
                "rd",
                format!("https://auth.example.com?rd={o}"),
            ),
            (
                "https://auth.example.com?rm=$request_method",
                "rd",
                format!("https://auth.example.com?rm=$request_method&rd={o}"),
            ),
            (
                "https://$host/oauth2/start?rd=$escaped_request_uri",
                "rd",
                "https://$host/oauth2/start?rd=$escaped_request_uri".to_string(),
            ),
            (
                "https://auth.example.com/?",
                "redirect_to",
                format!("https://auth.example.com/?redirect_to={o}"),
            ),
            (
                "https://auth.example.com/?rd=",
                "rd",
                format!("https://auth.example.com/?rd=&rd={o}"),
            ),
        ];
        for (signin, param, want) in cases {
            assert_eq!(signin_with_redirect(signin, param), want, "{signin}");
        }
    }
}
