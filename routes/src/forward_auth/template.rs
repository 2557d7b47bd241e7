//! nginx-variable templates, as ingress-nginx's auth annotations use them
//! (`https://$host/oauth2/start?rd=$escaped_request_uri`): parsed once when the Ingress is
//! translated (an unknown variable is an error there, never a silent empty string) and
//! rendered per request from a [`RequestVars`].
//!
//! gatehouse differs from nginx on purpose in one place: `$request_uri` is the *normalised*
//! path with the query as sent, the one the route was matched on and the backend receives, so
//! an auth service never decides on a spelling (`/public/../admin`) the backend does not see.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;

/// What a template can read of one request.
#[derive(Clone, Copy, Debug)]
pub struct RequestVars<'a> {
    /// The request method.
    pub method: &'a str,
    /// The normalised path.
    pub path: &'a str,
    /// The query, as sent, without `?`.
    pub query: Option<&'a str>,
    /// The Host as the client sent it (with any port), or the HTTP/2 authority.
    pub authority: &'a str,
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The request arrived over TLS.
    pub tls: bool,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The request id gatehouse sends upstream.
    pub request_id: &'a str,
}

impl RequestVars<'_> {
    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// The path and query (`$request_uri`).
    pub fn request_uri(&self, out: &mut String) {
        out.push_str(self.path);
        if let Some(q) = self.query {
            out.push('?');
            out.push_str(q);
        }
    }

    /// `scheme://authority/path?query`: the URL the client asked for (`X-Original-URL`).
    pub fn original_url(&self) -> String {
        let mut url = String::with_capacity(
            8 + self.authority.len() + self.path.len() + self.query.map_or(0, |q| q.len() + 1),
        );
        url.push_str(self.scheme());
        url.push_str("://");
        url.push_str(self.authority);
        self.request_uri(&mut url);
        url
    }
}

/// One nginx variable a template may hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Variable {
    /// `$scheme`, `$pass_access_scheme`: `http` or `https`.
    Scheme,
    /// `$host`: the host, lower case, without port.
    Host,
    /// `$http_host`, `$best_http_host`: the Host as sent, with any port.
    HttpHost,
    /// `$request_uri`: the (normalised) path and the query.
    RequestUri,
    /// `$escaped_request_uri`: `$request_uri` with everything but `A-Za-z0-9-._~` escaped.
    EscapedRequestUri,
    /// `$uri`, `$document_uri`: the (normalised) path.
    Uri,
    /// `$args`, `$query_string`: the query, or empty.
    Args,
    /// `$is_args`: `?` when there is a query.
    IsArgs,
    /// `$request_method`.
    RequestMethod,
    /// `$remote_addr`: the client's address.
    RemoteAddr,
    /// `$req_id`, `$request_id`: gatehouse's request id.
    RequestId,
    /// `$http_NAME`: the request header `NAME` (`_` for `-`), values joined with `, `.
    Header(http::HeaderName),
    /// `$arg_NAME`: the query parameter `NAME`, as sent.
    Arg(Arc<str>),
    /// `$cookie_NAME`: the cookie `NAME`.
    Cookie(Arc<str>),
}

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Piece {
    Text(Arc<str>),
    Var(Variable),
}

/// A string with nginx variables, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Template {
    source: Arc<str>,
    pieces: Arc<[Piece]>,
}

impl Template {
    /// Parses `$name` and `${name}` references; an unknown or unterminated one is an error.
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        while let Some(at) = rest.find('$') {
            text.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, next) = if let Some(braced) = after.strip_prefix('{') {
                let end = braced
                    .find('}')
                    .ok_or_else(|| format!("unterminated ${{…}} in {source:?}"))?;
                (&braced[..end], &braced[end + 1..])
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            if name.is_empty() {
                // A `$` that starts no name is text, as in nginx.
                text.push('$');
                rest = after;
                continue;
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(Arc::from(std::mem::take(&mut text))));
            }
            pieces.push(Piece::Var(variable(name)?));
            rest = next;
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(Arc::from(text)));
        }
        Ok(Template {
            source: Arc::from(source),
            pieces: pieces.into(),
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the template holds no variable.
    pub fn is_constant(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Text(_)))
    }

    /// The text before the first variable.
    pub fn literal_prefix(&self) -> &str {
        match self.pieces.first() {
            Some(Piece::Text(t)) => t,
            _ => "",
        }
    }

    /// The template with the request's values filled in.
    pub fn render(&self, vars: &RequestVars<'_>) -> String {
        let mut out = String::with_capacity(self.source.len() + 32);
        for piece in self.pieces.iter() {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => render_variable(v, vars, &mut out),
            }
        }
        out
    }
}

/// The variable called `name`.
fn variable(name: &str) -> Result<Variable, String> {
    let v = match name {
        "scheme" | "pass_access_scheme" => Variable::Scheme,
        "host" => Variable::Host,
        "http_host" | "best_http_host" => Variable::HttpHost,
        "request_uri" => Variable::RequestUri,
        "escaped_request_uri" => Variable::EscapedRequestUri,
        "uri" | "document_uri" => Variable::Uri,
        "args" | "query_string" => Variable::Args,
        "is_args" => Variable::IsArgs,
        "request_method" => Variable::RequestMethod,
        "remote_addr" => Variable::RemoteAddr,
        "req_id" | "request_id" => Variable::RequestId,
        _ => {
            if let Some(header) = name.strip_prefix("http_") {
                let header = header.replace('_', "-").to_ascii_lowercase();
                let name = http::HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| format!("${name} names no valid header"))?;
                Variable::Header(name)
            } else if let Some(arg) = name.strip_prefix("arg_").filter(|a| !a.is_empty()) {
                Variable::Arg(Arc::from(arg))
            } else if let Some(cookie) = name.strip_prefix("cookie_").filter(|c| !c.is_empty()) {
                Variable::Cookie(Arc::from(cookie))
            } else {
                return Err(format!("unknown variable ${name}"));
            }
        }
    };
    Ok(v)
}

fn render_variable(v: &Variable, vars: &RequestVars<'_>, out: &mut String) {
    match v {
        Variable::Scheme => out.push_str(vars.scheme()),
        Variable::Host => {
            let host = crate::host::host_without_port(vars.authority);
            out.extend(host.chars().map(|c| c.to_ascii_lowercase()));
        }
        Variable::HttpHost => out.push_str(vars.authority),
        Variable::RequestUri => vars.request_uri(out),
        Variable::EscapedRequestUri => {
            let mut uri = String::new();
            vars.request_uri(&mut uri);
            escape_uri(&uri, out);
        }
        Variable::Uri => out.push_str(vars.path),
        Variable::Args => out.push_str(vars.query.unwrap_or("")),
        Variable::IsArgs => {
            if vars.query.is_some() {
                out.push('?');
            }
        }
        Variable::RequestMethod => out.push_str(vars.method),
        Variable::RemoteAddr => {
            if let Some(ip) = vars.client_ip {
                let _ = write!(out, "{ip}");
            }
        }
        Variable::RequestId => out.push_str(vars.request_id),
        Variable::Header(name) => {
            let mut first = true;
            for value in vars.headers.get_all(name) {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                out.push_str(&String::from_utf8_lossy(value.as_bytes()));
            }
        }
        Variable::Arg(name) => {
            if let Some(value) = query_arg(vars.query, name) {
                out.push_str(value);
            }
        }
        Variable::Cookie(name) => {
            if let Some(value) = cookie(vars.headers, name) {
                out.push_str(value);
            }
        }
    }
}

/// The first value of query parameter `name` (case-insensitive, as nginx), undecoded.
fn query_arg<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        key.eq_ignore_ascii_case(name).then_some(value)
    })
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key.trim() == name).then(|| value.trim())
        })
}

/// Percent-escapes everything but the unreserved characters, as nginx's `set_escape_uri`
/// (which ingress-nginx uses for `$escaped_request_uri`).
pub fn escape_uri(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> RequestVars<'a> {
        RequestVars {
            method: "POST",
            path: "/app/x y",
            query,
            authority: "App.Example.test:8443",
            headers,
            tls: true,
            client_ip: Some("192.0.2.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))),
            request_id: "rid-1",
        }
    }

    #[test]
    fn variables_render_from_the_request() {
        let mut headers = HeaderMap::new();
        headers.insert("x-user-agent", "curl".parse().unwrap());
        headers.insert("cookie", "a=1; session=abc ; b=2".parse().unwrap());
        let v = vars(&headers, Some("rd=%2F&Lang=en"));
        let cases = [
            (
                "$scheme://$host$request_uri",
                "https://app.example.test/app/x y?rd=%2F&Lang=en",
            ),
            (
                "$pass_access_scheme://$http_host",
                "https://App.Example.test:8443",
            ),
            ("${best_http_host}x", "App.Example.test:8443x"),
            (
                "rd=$escaped_request_uri",
                "rd=%2Fapp%2Fx%20y%3Frd%3D%252F%26Lang%3Den",
            ),
            ("$uri$is_args$args", "/app/x y?rd=%2F&Lang=en"),
            ("m=$request_method", "m=POST"),
            ("$http_x_user_agent", "curl"),
            ("$arg_lang/$arg_missing.", "en/."),
            ("$cookie_session", "abc"),
            ("$remote_addr $req_id", "192.0.2.7 rid-1"),
            ("cost: $ 5 $", "cost: $ 5 $"),
            ("no variables", "no variables"),
        ];
        for (source, want) in cases {
            let t = Template::parse(source).unwrap();
            assert_eq!(t.render(&v), want, "{source}");
        }
        let none = vars(&headers, None);
        let t = Template::parse("$uri$is_args$args|$request_uri").unwrap();
        assert_eq!(t.render(&none), "/app/x y|/app/x y");
    }

    #[test]
    fn unknown_variables_are_errors() {
        for source in ["$nonsense", "${host", "$upstream_addr", "$arg_", "$cookie_"] {
            assert!(Template::parse(source).is_err(), "{source}");
        }
    }

    #[test]
    fn constant_templates_and_prefixes() {
        let t = Template::parse("https://auth.example/verify").unwrap();
        assert!(t.is_constant());
        assert_eq!(t.literal_prefix(), "https://auth.example/verify");
        let t = Template::parse("https://$host/oauth2/auth").unwrap();
        assert!(!t.is_constant());
        assert_eq!(t.literal_prefix(), "https://");
        assert_eq!(t.source(), "https://$host/oauth2/auth");
    }
}
