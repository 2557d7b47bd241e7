//! The request body limit: a declared Content-Length over it is refused with 413 before
//! anything goes upstream; the limit is also kept in the context for bodies that stream
//! (chunked), which `request_body_filter` counts.

use http::header::CONTENT_LENGTH;
use pingora::http::RequestHeader;

use super::{Answer, Flow};
use crate::limits::Limits;
use crate::service::RequestCtx;

/// Refuses a declared body over the route's limit, else `instance_max` (zero: no limit), and
/// records the limit for streaming.
pub fn step(req: &RequestHeader, ctx: &mut RequestCtx, instance_max: u64) -> Flow {
    let max = ctx
        .target
        .as_ref()
        .and_then(|t| t.policy.body_max)
        .unwrap_or(instance_max);
    ctx.body_max = max;
    let declared = req
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if Limits::body_too_large(max, length) => Flow::Break(Answer::Text {
            status: 413,
            body: "request body too large\n",
        }),
        _ => Flow::Continue(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::steps::tests::ctx_with;
    use gatehouse_routes::RoutePolicy;

    #[test]
    fn declared_lengths() {
        let cases: &[(Option<&str>, u64, bool)] = &[
            (None, 10, false),
            (Some("10"), 10, false),
            (Some("11"), 10, true),
            (Some("999999999999"), 0, false),
            (Some("11"), 0, false),
        ];
        for (length, max, refused) in cases {
            let mut req = RequestHeader::build("POST", b"/", None).expect("request");
            if let Some(length) = length {
                req.insert_header("content-length", *length)
                    .expect("header");
            }
            let mut ctx = ctx_with(RoutePolicy::default());
            let flow = step(&req, &mut ctx, *max);
            assert_eq!(flow.is_break(), *refused, "{length:?} with limit {max}");
            assert_eq!(ctx.body_max, *max);
        }
    }

    #[test]
    fn the_route_s_limit_wins() {
        let mut req = RequestHeader::build("POST", b"/", None).expect("request");
        req.insert_header("content-length", "5000").expect("header");
        for (route, instance, refused) in [
            (Some(0), 10, false),
            (Some(10_000), 10, false),
            (Some(10), 1 << 20, true),
            (None, 10, true),
        ] {
            let mut ctx = ctx_with(RoutePolicy {
                body_max: route,
                ..RoutePolicy::default()
            });
            assert_eq!(
                step(&req, &mut ctx, instance).is_break(),
                refused,
                "{route:?}"
            );
        }
    }
}
