//! The auth subrequest's head, as ingress-nginx's `auth_request` location builds it: the
//! original method (or `auth-method`), the auth URL's path, no body, the request's own
//! headers (cookies, authorization…) minus those that describe its framing or that gatehouse
//! sets itself, then the headers that tell the auth service what was asked:
//! `X-Original-URL`, `X-Original-Method`, `X-Original-URI`, `X-Forwarded-*`, `X-Real-IP`,
//! `X-Auth-Request-Redirect`, and last the `auth-snippet`'s `proxy_set_header` lines.
//!
//! A client's own `X-Original-URL`, `X-Forwarded-*`… never reach the auth service: Authelia
//! and Authentik decide on them, so a client that could set them could pick the URL it is
//! authorised for.

use http::header::{self, HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use pingora::prelude::*;

use super::client::Target;
use crate::routes::forward_auth::{ForwardAuth, RequestVars};

/// Request headers that never go to the auth service: framing and connection headers, and
/// every header gatehouse sets on the subrequest itself.
const DROPPED: &[&str] = &[
    "connection",
    "content-length",
    "expect",
    "forwarded",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-auth-request-redirect",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-method",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-proto",
    "x-forwarded-uri",
    "x-original-method",
    "x-original-uri",
    "x-original-url",
    "x-real-ip",
    "x-request-id",
    "x-scheme",
    "x-sent-from",
];

/// The subrequest for `req` to `target` under `auth`.
pub fn build(
    auth: &ForwardAuth,
    target: &Target,
    req: &RequestHeader,
    vars: &RequestVars<'_>,
) -> Result<RequestHeader> {
    let method = auth.method.as_ref().unwrap_or(&req.method);
    let mut sub = RequestHeader::build(
        method.clone(),
        target.path_and_query.as_bytes(),
        Some(req.headers.len() + 16),
    )?;
    for (name, value) in req.headers.iter() {
        if !DROPPED.contains(&name.as_str()) {
            sub.append_header(name.clone(), value.clone())?;
        }
    }
    let mut request_uri =
        String::with_capacity(vars.path.len() + 1 + vars.query.map_or(0, str::len));
    vars.request_uri(&mut request_uri);
    let client_ip = vars.client_ip.map(|ip| ip.to_string()).unwrap_or_default();
    let redirect = match &auth.request_redirect {
        Some(t) => t.render(vars),
        None => request_uri.clone(),
    };
    let set: [(&str, &str); 14] = [
        ("host", &target.authority),
        ("x-original-url", &vars.original_url()),
        ("x-original-method", vars.method),
        ("x-original-uri", &request_uri),
        ("x-scheme", vars.scheme()),
        ("x-forwarded-proto", vars.scheme()),
        ("x-forwarded-host", vars.authority),
        ("x-forwarded-uri", &request_uri),
        ("x-forwarded-method", vars.method),
        ("x-forwarded-for", &client_ip),
        ("x-real-ip", &client_ip),
        ("x-auth-request-redirect", &redirect),
        ("x-sent-from", "gatehouse"),
        ("x-request-id", vars.request_id),
    ];
    for (name, value) in set {
        if !value.is_empty() {
            sub.insert_header(name, value_of(value)?)?;
        }
    }
    // A method that may carry a body says it carries none, so the auth service does not wait.
    if !matches!(*method, http::Method::GET | http::Method::HEAD) {
        sub.insert_header(header::CONTENT_LENGTH, "0")?;
    }
    for (name, template) in auth.set_headers.iter() {
        let value = template.render(vars);
        if value.is_empty() {
            sub.remove_header(name);
        } else {
            sub.insert_header(name.clone(), value_of(&value)?)?;
        }
    }
    Ok(sub)
}

/// A header value from rendered text (request bytes that were valid header bytes stay so).
fn value_of(text: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(text).or_err(
        ErrorType::InternalError,
        "auth subrequest header value with invalid bytes",
    )
}

/// Sets the auth answer's listed headers on the upstream request: the client's own values of
/// those names are removed first, whether or not the auth service sent them, so a client can
/// never claim to be `Remote-User: admin`.
pub fn apply_to_upstream(
    auth: &ForwardAuth,
    copied: &[(HeaderName, HeaderValue)],
    upstream: &mut RequestHeader,
) -> Result<()> {
    for name in auth.response_headers.iter() {
        upstream.remove_header(name);
    }
    for (name, value) in copied {
        upstream.append_header(name.clone(), value.clone())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::routes::Template;

    fn target() -> Target {
        Target::parse("http://auth.internal:9091/api/verify?x=1").unwrap()
    }

    fn request() -> RequestHeader {
        let mut req = RequestHeader::build("POST", b"/app/doc?id=7", None).unwrap();
        for (n, v) in [
            ("host", "app.example.test"),
            ("cookie", "authelia_session=abc"),
            ("authorization", "Basic Zm9vOmJhcg=="),
            ("content-length", "12"),
            ("x-original-url", "https://admin.example.test/"),
            ("x-forwarded-for", "10.9.9.9"),
            ("x-forwarded-host", "admin.example.test"),
            ("remote-user", "admin"),
            ("connection", "keep-alive"),
        ] {
            req.insert_header(n, v).unwrap();
        }
        req
    }

    fn vars<'a>(req: &'a RequestHeader) -> RequestVars<'a> {
        RequestVars {
            method: req.method.as_str(),
            path: req.uri.path(),
            query: req.uri.query(),
            authority: "app.example.test",
            headers: &req.headers,
            tls: true,
            client_ip: Some("192.0.2.1".parse().unwrap()),
            request_id: "rid",
        }
    }

    fn header<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
        req.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn the_subrequest_says_what_was_asked_and_drops_what_the_client_claimed() {
        let req = request();
        let auth =
            ForwardAuth::new(Template::parse("http://auth.internal:9091/api/verify").unwrap());
        let sub = build(&auth, &target(), &req, &vars(&req)).unwrap();
        assert_eq!(sub.method, http::Method::POST);
        assert_eq!(sub.uri.to_string(), "/api/verify?x=1");
        let want = [
            ("host", Some("auth.internal:9091")),
            (
                "x-original-url",
                Some("https://app.example.test/app/doc?id=7"),
            ),
            ("x-original-method", Some("POST")),
            ("x-original-uri", Some("/app/doc?id=7")),
            ("x-forwarded-proto", Some("https")),
            ("x-forwarded-host", Some("app.example.test")),
            ("x-forwarded-uri", Some("/app/doc?id=7")),
            ("x-forwarded-method", Some("POST")),
            ("x-forwarded-for", Some("192.0.2.1")),
            ("x-real-ip", Some("192.0.2.1")),
            ("x-auth-request-redirect", Some("/app/doc?id=7")),
            ("x-request-id", Some("rid")),
            ("cookie", Some("authelia_session=abc")),
            ("authorization", Some("Basic Zm9vOmJhcg==")),
            ("content-length", Some("0")),
            ("connection", None),
        ];
        for (name, value) in want {
            assert_eq!(header(&sub, name), value, "{name}");
        }
        assert_eq!(sub.headers.get_all("x-forwarded-for").iter().count(), 1);
    }

    #[test]
    fn method_redirect_and_snippet_headers() {
        let req = request();
        let mut auth = ForwardAuth::new(Template::parse("http://a/").unwrap());
        auth.method = Some(http::Method::GET);
        auth.request_redirect = Some(Template::parse("https://$host/back").unwrap());
        auth.set_headers = Arc::from([
            (
                HeaderName::from_static("x-forwarded-host"),
                Template::parse("$http_host").unwrap(),
            ),
            (
                HeaderName::from_static("x-custom"),
                Template::parse("m=$request_method").unwrap(),
            ),
            (
                HeaderName::from_static("authorization"),
                Template::parse("$http_x_absent").unwrap(),
            ),
        ]);
        let sub = build(&auth, &target(), &req, &vars(&req)).unwrap();
        assert_eq!(sub.method, http::Method::GET);
        assert_eq!(header(&sub, "content-length"), None);
        assert_eq!(
            header(&sub, "x-auth-request-redirect"),
            Some("https://app.example.test/back")
        );
        assert_eq!(header(&sub, "x-forwarded-host"), Some("app.example.test"));
        assert_eq!(header(&sub, "x-custom"), Some("m=POST"));
        assert_eq!(
            header(&sub, "authorization"),
            None,
            "an empty value removes"
        );
    }

    #[test]
    fn listed_headers_are_replaced_on_the_upstream_request() {
        let mut auth = ForwardAuth::new(Template::parse("http://a/").unwrap());
        auth.response_headers = Arc::from([
            HeaderName::from_static("remote-user"),
            HeaderName::from_static("remote-groups"),
        ]);
        let mut upstream = request();
        let copied = [(
            HeaderName::from_static("remote-user"),
            HeaderValue::from_static("alice"),
        )];
        apply_to_upstream(&auth, &copied, &mut upstream).unwrap();
        assert_eq!(header(&upstream, "remote-user"), Some("alice"));
        assert_eq!(upstream.headers.get_all("remote-user").iter().count(), 1);
        let mut spoofed = request();
        spoofed.insert_header("remote-groups", "admins").unwrap();
        apply_to_upstream(&auth, &[], &mut spoofed).unwrap();
        assert_eq!(header(&spoofed, "remote-user"), None);
        assert_eq!(header(&spoofed, "remote-groups"), None);
    }
}
