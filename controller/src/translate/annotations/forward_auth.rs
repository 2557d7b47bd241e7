//! Parsers for external authentication (`auth-url` and its companions), shared by the
//! per-Ingress annotations and the controller's global auth flags (`--global-auth-*`, the
//! ingress-nginx ConfigMap's `global-auth-*` keys), so both accept exactly the same values.

use std::sync::Arc;

use gatehouse_routes::forward_auth::{signin_with_redirect, DEFAULT_REDIRECT_PARAM};
use gatehouse_routes::{ForwardAuth, Template};

/// The longest template accepted (URLs and header values; real ones are well under 1 KiB).
const MAX_TEMPLATE: usize = 4096;

/// `auth-url`: an `http://` or `https://` URL, which may hold nginx variables
/// (oauth2-proxy's documentation uses `https://$host/oauth2/auth`).
pub fn parse_url(value: &str) -> Result<Template, String> {
    let template = parse_template(value)?;
    let prefix = template.literal_prefix();
    let rest = prefix
        .strip_prefix("http://")
        .or_else(|| prefix.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() || !template.is_constant() => Ok(template),
        _ => Err(format!(
            "{:?} is not an http:// or https:// URL with a host",
            value.trim()
        )),
    }
}

/// `auth-signin`: a URL (absolute, or a path on the request's host), which may hold
/// variables; a 401 redirects there.
pub fn parse_signin(value: &str) -> Result<Template, String> {
    let template = parse_template(value)?;
    let prefix = template.literal_prefix();
    if prefix.starts_with("http://") || prefix.starts_with("https://") || prefix.starts_with('/') {
        Ok(template)
    } else {
        Err(format!(
            "{:?} is not a URL (expected http://…, https://… or /…)",
            value.trim()
        ))
    }
}

/// `auth-signin-redirect-param`: the sign-in URL's parameter that gets the original URL.
pub fn parse_redirect_param(value: &str) -> Result<Arc<str>, String> {
    let v = value.trim();
    if v.is_empty()
        || v.len() > 64
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!("{v:?} is not a query parameter name"));
    }
    Ok(Arc::from(v))
}

/// `auth-method`: the subrequest's method, one of those ingress-nginx accepts.
pub fn parse_method(value: &str) -> Result<http::Method, String> {
    let v = value.trim();
    match v {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "TRACE" => {
            http::Method::from_bytes(v.as_bytes()).map_err(|e| format!("{v:?}: {e}"))
        }
        _ => Err(format!(
            "{v:?} is not a method (expected GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or TRACE)"
        )),
    }
}

/// `auth-response-headers`: comma-separated header names (spaces allowed, as
/// oauth2-proxy's documentation writes them).
pub fn parse_header_list(value: &str) -> Result<Arc<[http::HeaderName]>, String> {
    let mut names = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let name = http::HeaderName::from_bytes(part.as_bytes())
            .map_err(|_| format!("{part:?} is not a header name"))?;
        if is_hop_by_hop(&name) {
            return Err(format!(
                "{part:?} cannot be copied onto the upstream request"
            ));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names.into())
}

/// `auth-request-redirect`: the subrequest's `X-Auth-Request-Redirect`, which may hold
/// variables.
pub fn parse_template(value: &str) -> Result<Template, String> {
    let v = value.trim();
    if v.len() > MAX_TEMPLATE {
        return Err(format!("longer than {MAX_TEMPLATE} bytes"));
    }
    if v.bytes().any(|b| b.is_ascii_control()) {
        return Err("holds control characters".to_string());
    }
    Template::parse(v)
}

/// `auth-snippet`: only `proxy_set_header NAME VALUE;` lines (what real configurations put
/// there: `proxy_set_header X-Forwarded-Host $http_host;`). Any other directive is an error,
/// so the Ingress fails closed: a directive gatehouse cannot run might have been part of the
/// access decision.
pub fn parse_auth_snippet(value: &str) -> Result<Arc<[(http::HeaderName, Template)]>, String> {
    let mut set = Vec::new();
    for statement in statements(value)? {
        let Some((directive, args)) = statement.split_first() else {
            continue;
        };
        if directive != "proxy_set_header" {
            return Err(format!(
                "directive {directive:?} is not supported in auth-snippet (only proxy_set_header is)"
            ));
        }
        let [name, value] = args else {
            return Err(format!(
                "proxy_set_header takes a header name and a value, got {} argument(s)",
                args.len()
            ));
        };
        let header = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a header name"))?;
        if is_hop_by_hop(&header) || header == http::header::HOST {
            return Err(format!(
                "proxy_set_header {name} is not allowed in auth-snippet"
            ));
        }
        set.push((header, parse_template(value)?));
    }
    Ok(set.into())
}

/// The snippet's statements, each split into words (nginx quoting: `"…"` and `'…'`, `\`
/// escapes; `#` starts a comment).
fn statements(snippet: &str) -> Result<Vec<Vec<String>>, String> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut chars = snippet.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            ';' => out.push(std::mem::take(&mut words)),
            '{' | '}' => return Err("blocks are not supported in auth-snippet".to_string()),
            '"' | '\'' => {
                let quote = c;
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated quote in auth-snippet".to_string()),
                        Some('\\') => {
                            if let Some(next) = chars.next() {
                                word.push(next);
                            }
                        }
                        Some(c) if c == quote => break,
                        Some(c) => word.push(c),
                    }
                }
                words.push(word);
            }
            c => {
                let mut word = String::from(c);
                while let Some(&next) = chars.peek() {
                    if next.is_whitespace() || matches!(next, ';' | '{' | '}' | '"' | '\'') {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                words.push(word);
            }
        }
    }
    if !words.is_empty() {
        return Err(format!(
            "statement {:?} does not end with ';'",
            words.join(" ")
        ));
    }
    Ok(out)
}

/// Connection-level headers, which never cross a proxy.
fn is_hop_by_hop(name: &http::HeaderName) -> bool {
    use http::header::*;
    [
        CONNECTION,
        TRANSFER_ENCODING,
        CONTENT_LENGTH,
        TE,
        TRAILER,
        UPGRADE,
        PROXY_AUTHENTICATE,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// The raw values of one external authentication setting, by key: from annotations or from
/// the global auth flags.
#[derive(Clone, Debug, Default)]
pub struct AuthSettings<'a> {
    /// `auth-url` (required).
    pub url: &'a str,
    /// `auth-method`.
    pub method: Option<&'a str>,
    /// `auth-signin`.
    pub signin: Option<&'a str>,
    /// `auth-signin-redirect-param`.
    pub signin_redirect_param: Option<&'a str>,
    /// `auth-response-headers`.
    pub response_headers: Option<&'a str>,
    /// `auth-request-redirect`.
    pub request_redirect: Option<&'a str>,
    /// `auth-snippet`.
    pub snippet: Option<&'a str>,
    /// `auth-always-set-cookie`.
    pub always_set_cookie: Option<&'a str>,
}

/// The parsed parts, before they are put together.
#[derive(Clone, Debug, Default)]
pub struct AuthParts {
    /// `auth-url`.
    pub url: Option<Template>,
    /// `auth-method`.
    pub method: Option<http::Method>,
    /// `auth-signin`, as written.
    pub signin: Option<Template>,
    /// `auth-signin-redirect-param`.
    pub signin_redirect_param: Option<Arc<str>>,
    /// `auth-response-headers`.
    pub response_headers: Option<Arc<[http::HeaderName]>>,
    /// `auth-request-redirect`.
    pub request_redirect: Option<Template>,
    /// `auth-snippet`.
    pub set_headers: Option<Arc<[(http::HeaderName, Template)]>>,
    /// `auth-always-set-cookie`.
    pub always_set_cookie: Option<bool>,
}

impl AuthParts {
    /// The policy; `None` without a URL. The sign-in URL gets its redirect parameter here.
    pub fn build(self) -> Result<Option<ForwardAuth>, String> {
        let Some(url) = self.url else {
            return Ok(None);
        };
        let param = self
            .signin_redirect_param
            .unwrap_or_else(|| Arc::from(DEFAULT_REDIRECT_PARAM));
        let signin = match self.signin {
            Some(s) => Some(Template::parse(&signin_with_redirect(s.source(), &param))?),
            None => None,
        };
        Ok(Some(ForwardAuth {
            url,
            method: self.method,
            signin,
            response_headers: self.response_headers.unwrap_or_else(|| Arc::from([])),
            request_redirect: self.request_redirect,
            set_headers: self.set_headers.unwrap_or_else(|| Arc::from([])),
            always_set_cookie: self.always_set_cookie.unwrap_or(false),
        }))
    }
}

/// All settings at once, each error naming its key (for the global auth flags).
pub fn from_settings(s: &AuthSettings<'_>) -> Result<ForwardAuth, String> {
    fn each<T>(
        key: &str,
        value: Option<&str>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        value
            .map(|v| parse(v).map_err(|e| format!("{key}: {e}")))
            .transpose()
    }
    let parts = AuthParts {
        url: Some(parse_url(s.url).map_err(|e| format!("auth-url: {e}"))?),
        method: each("auth-method", s.method, parse_method)?,
        signin: each("auth-signin", s.signin, parse_signin)?,
        signin_redirect_param: each(
            "auth-signin-redirect-param",
            s.signin_redirect_param,
            parse_redirect_param,
        )?,
        response_headers: each(
            "auth-response-headers",
            s.response_headers,
            parse_header_list,
        )?,
        request_redirect: each("auth-request-redirect", s.request_redirect, parse_template)?,
        set_headers: each("auth-snippet", s.snippet, parse_auth_snippet)?,
        always_set_cookie: each(
            "auth-always-set-cookie",
            s.always_set_cookie,
            super::values::parse_bool,
        )?,
    };
    parts
        .build()?
        .ok_or_else(|| "auth-url is required".to_string())
}

/// External authentication for every Ingress of the process that has none of its own and does
/// not opt out (`enable-global-auth: "false"`), ingress-nginx's `global-auth-url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalAuth {
    /// The policy.
    pub auth: Arc<ForwardAuth>,
    /// Route paths under these prefixes are exempt (`--no-auth-locations`, by default
    /// `/.well-known/acme-challenge`, so certificate challenges still reach their solvers).
    pub no_auth_locations: Vec<String>,
}

/// ingress-nginx's default `no-auth-locations`.
pub const DEFAULT_NO_AUTH_LOCATIONS: &str = "/.well-known/acme-challenge";

impl GlobalAuth {
    /// Whether a route with this path is exempt.
    pub fn exempts(&self, path: &str) -> bool {
        self.no_auth_locations
            .iter()
            .any(|l| !l.is_empty() && path.starts_with(l.as_str()))
    }
}

/// `--no-auth-locations`: comma-separated path prefixes.
pub fn parse_locations(value: &str) -> Result<Vec<String>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.starts_with('/') {
                Ok(p.to_string())
            } else {
                Err(format!("{p:?} is not a path (expected /…)"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "http://authelia.auth.svc.cluster.local/api/verify",
            "https://$host/oauth2/auth",
            " http://127.0.0.1:9091/api/authz/auth-request ",
            "http://ak-outpost.authentik.svc:9000/outpost.goauthentik.io/auth/nginx",
        ] {
            assert!(parse_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "authelia/api/verify",
            "ftp://x/",
            "http://",
            "http://$nonsense/",
            "http://a/\u{7}",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signins_and_params() {
        assert!(parse_signin("https://auth.example.com?rm=$request_method").is_ok());
        assert!(parse_signin("/outpost.goauthentik.io/start?rd=$request_uri").is_ok());
        assert!(parse_signin("auth.example.com").is_err());
        assert!(parse_redirect_param("redirect_url").is_ok());
        assert!(parse_redirect_param("a b").is_err());
        assert!(parse_redirect_param("").is_err());
    }

    #[test]
    fn methods() {
        assert_eq!(parse_method("GET"), Ok(http::Method::GET));
        assert_eq!(parse_method(" HEAD "), Ok(http::Method::HEAD));
        assert!(parse_method("get").is_err());
        assert!(parse_method("CONNECT").is_err());
    }

    #[test]
    fn header_lists() {
        let list =
            parse_header_list("x-auth-request-user, x-auth-request-email,,Remote-User").unwrap();
        let names: Vec<&str> = list.iter().map(|h| h.as_str()).collect();
        assert_eq!(
            names,
            ["x-auth-request-user", "x-auth-request-email", "remote-user"]
        );
        assert!(parse_header_list("Remote User").is_err());
        assert!(parse_header_list("Transfer-Encoding").is_err());
        assert_eq!(parse_header_list("").unwrap().len(), 0);
    }

    #[test]
    fn snippets_take_proxy_set_header_only() {
        let set = parse_auth_snippet(
            "proxy_set_header X-Forwarded-Host $http_host;\n# a comment\nproxy_set_header 'X-Forwarded-Method' \"$request_method\";",
        )
        .unwrap();
        let names: Vec<&str> = set.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(names, ["x-forwarded-host", "x-forwarded-method"]);
        assert_eq!(set[1].1.source(), "$request_method");
        for bad in [
            "return 200;",
            "if ($request_uri ~ public) { return 200; }",
            "proxy_set_header X-A;",
            "proxy_set_header X-A b c;",
            "proxy_set_header X-A $nonsense;",
            "proxy_set_header Host evil;",
            "proxy_set_header X-A b",
            "proxy_set_header X-A \"b;",
        ] {
            assert!(parse_auth_snippet(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_auth_snippet("  \n").unwrap().len(), 0);
    }

    #[test]
    fn settings_build_a_policy() {
        let auth = from_settings(&AuthSettings {
            url: "http://authelia.auth.svc/api/authz/auth-request",
            method: Some("GET"),
            signin: Some("https://auth.example.com?rm=$request_method"),
            response_headers: Some("Remote-User,Remote-Groups"),
            ..AuthSettings::default()
        })
        .unwrap();
        assert_eq!(auth.method, Some(http::Method::GET));
        assert_eq!(
            auth.signin.as_ref().map(|s| s.source()),
            Some("https://auth.example.com?rm=$request_method&rd=$pass_access_scheme://$http_host$escaped_request_uri")
        );
        assert_eq!(auth.response_headers.len(), 2);
        let err = from_settings(&AuthSettings {
            url: "http://a/",
            method: Some("FETCH"),
            ..AuthSettings::default()
        })
        .unwrap_err();
        assert!(err.starts_with("auth-method:"), "{err}");
        assert!(from_settings(&AuthSettings::default()).is_err());
    }

    #[test]
    fn no_auth_locations() {
        let global = GlobalAuth {
            auth: Arc::new(ForwardAuth::new(Template::parse("http://a/").unwrap())),
            no_auth_locations: parse_locations(DEFAULT_NO_AUTH_LOCATIONS).unwrap(),
        };
        assert!(global.exempts("/.well-known/acme-challenge/token"));
        assert!(!global.exempts("/"));
        assert!(parse_locations("/a, /b").unwrap().len() == 2);
        assert!(parse_locations("a").is_err());
    }
}
