//! Path normalisation, before anything looks at the path: the request's path is replaced by
//! its normal form (`gatehouse_routes::request_path`), so that no spelling of a path reaches
//! another route than the path it means, and the backend receives exactly the path that was
//! matched. Paths without a normal form are answered with 400.

use std::borrow::Cow;
use std::ops::ControlFlow;

use gatehouse_routes::{normalize_path, PathError};
use http::uri::PathAndQuery;
use http::Uri;
use pingora::http::RequestHeader;

use super::{Answer, Flow};
use crate::service::RequestCtx;

/// Normalises the request's path in place (the query is kept as sent) and notes in `ctx`
/// whether it held an encoded slash.
pub fn step(req: &mut RequestHeader, ctx: &mut RequestCtx) -> Flow {
    // A target that is not UTF-8 is forwarded as its raw bytes while the URI only holds a
    // lossy copy: what would be matched is not what the backend would get.
    if !req.raw_path_is_utf8() {
        return bad_request("400 the request path is not UTF-8\n");
    }
    let normal = match normalize_path(req.uri.path()) {
        Ok(normal) => normal,
        Err(e) => return bad_request(refusal(e)),
    };
    ctx.encoded_slash = normal.encoded_slash;
    if let Cow::Owned(path) = normal.path {
        let Some(uri) = with_path(&req.uri, &path) else {
            return bad_request("400 bad request path\n");
        };
        req.set_uri(uri);
    }
    ControlFlow::Continue(())
}

/// `uri` with its path replaced and everything else (scheme and authority for HTTP/2, the
/// query) kept. `None` cannot happen for a normal form of a valid path; it is refused anyway.
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let path_and_query = match uri.query() {
        Some(query) => PathAndQuery::try_from(format!("{path}?{query}")),
        None => PathAndQuery::try_from(path),
    }
    .ok()?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).ok()
}

fn refusal(e: PathError) -> &'static str {
    match e {
        PathError::NotAbsolute => "400 the request path does not start with /\n",
        PathError::AboveRoot => "400 the request path climbs above the root\n",
        PathError::EncodedNul => "400 the request path holds %00\n",
        PathError::BadPercent => "400 the request path has a malformed percent-encoding\n",
    }
}

fn bad_request(body: &'static str) -> Flow {
    ControlFlow::Break(Answer::Text { status: 400, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(target: &str) -> (Flow, RequestHeader, bool) {
        let mut req = RequestHeader::build("GET", target.as_bytes(), None).expect("request");
        let mut ctx = RequestCtx::new(None);
        let flow = step(&mut req, &mut ctx);
        (flow, req, ctx.encoded_slash)
    }

    #[test]
    fn rewrites_the_path_and_keeps_the_query() {
        // (request target, target afterwards, encoded slash)
        let cases = [
            ("/admin", "/admin", false),
            ("/%61dmin", "/admin", false),
            ("//admin", "/admin", false),
            ("/x/../admin?a=%2F..", "/admin?a=%2F..", false),
            ("/a/./b?", "/a/b?", false),
            ("/%2fx?q", "/%2Fx?q", true),
        ];
        for (target, want, slash) in cases {
            let (flow, req, encoded_slash) = run(target);
            assert_eq!(flow, ControlFlow::Continue(()), "{target}");
            assert_eq!(req.raw_path(), want.as_bytes(), "{target}");
            assert_eq!(req.uri.to_string(), want, "{target}");
            assert_eq!(encoded_slash, slash, "{target}");
        }
    }

    #[test]
    fn refuses_paths_without_a_normal_form() {
        for target in ["/../etc/passwd", "/%00", "/%zz", "/a%", "*"] {
            let (flow, _, _) = run(target);
            assert!(
                matches!(flow, ControlFlow::Break(Answer::Text { status: 400, .. })),
                "{target}: {flow:?}"
            );
        }
    }

    #[test]
    fn refuses_targets_that_are_not_utf8() {
        let mut req = RequestHeader::build("GET", b"/adm\xffin", None).expect("request");
        let mut ctx = RequestCtx::new(None);
        assert!(matches!(
            step(&mut req, &mut ctx),
            ControlFlow::Break(Answer::Text { status: 400, .. })
        ));
    }

    #[test]
    fn keeps_the_authority_of_http2_requests() {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        req.set_uri(Uri::from_static("https://foo.example/a//b?q=1"));
        let mut ctx = RequestCtx::new(None);
        assert_eq!(step(&mut req, &mut ctx), ControlFlow::Continue(()));
        assert_eq!(req.uri.to_string(), "https://foo.example/a/b?q=1");
    }
}
