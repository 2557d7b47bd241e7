//! Per-route source allow- and deny-lists (`whitelist-source-range`, `denylist-source-range`):
//! a client outside the allow-list, or inside the deny-list, gets 403. The deny-list wins, as
//! in ingress-nginx (its `deny` lines come before the `allow` lines). The client is
//! `RequestCtx::client_ip`, today the connection's peer address.

use std::net::IpAddr;
use std::ops::ControlFlow;

use gatehouse_routes::{RoutePolicy, Satisfy};

use super::{Answer, Flow};
use crate::service::RequestCtx;

/// Answers 403 when the matched route's lists do not admit the client. With `satisfy: any`
/// and basic authentication, valid credentials may admit a client the lists refuse, so the
/// basic-auth step decides instead.
pub fn step(ctx: &RequestCtx) -> Flow {
    let Some(target) = &ctx.target else {
        return ControlFlow::Continue(());
    };
    let policy = &target.policy;
    if policy.satisfy == Satisfy::Any && policy.basic_auth.is_some() {
        return ControlFlow::Continue(());
    }
    if admits(policy, ctx.client_ip) {
        return ControlFlow::Continue(());
    }
    ControlFlow::Break(Answer::Text {
        status: 403,
        body: "403 forbidden: your address may not use this route\n",
    })
}

/// True when the policy's lists let `client` in. A client without an IP address (a Unix
/// socket) cannot be shown to be in an allow-list or outside a deny-list, so any list refuses
/// it.
pub(super) fn admits(policy: &RoutePolicy, client: Option<IpAddr>) -> bool {
    if policy.allow_sources.is_none() && policy.deny_sources.is_none() {
        return true;
    }
    let Some(ip) = client else {
        return false;
    };
    if policy.deny_sources.as_ref().is_some_and(|d| d.contains(ip)) {
        return false;
    }
    policy.allow_sources.as_ref().is_none_or(|a| a.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::steps::tests::ctx_with;
    use gatehouse_routes::{IpNet, SourceRanges};

    fn ranges(list: &[&str]) -> Option<SourceRanges> {
        SourceRanges::new(
            list.iter()
                .map(|s| s.parse::<IpNet>().expect("cidr"))
                .collect(),
        )
    }

    fn policy(allow: &[&str], deny: &[&str]) -> RoutePolicy {
        RoutePolicy {
            allow_sources: ranges(allow),
            deny_sources: ranges(deny),
            ..RoutePolicy::default()
        }
    }

    /// (allow, deny, client, admitted)
    type Case = (
        &'static [&'static str],
        &'static [&'static str],
        Option<IpAddr>,
        bool,
    );

    #[test]
    fn allow_and_deny_lists() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
        let cases: &[Case] = &[
            (&[], &[], ip("203.0.113.9"), true),
            (&[], &[], None, true),
            (&["127.0.0.2/32"], &[], ip("127.0.0.2"), true),
            (&["127.0.0.2/32"], &[], ip("127.0.0.1"), false),
            (
                &["10.0.0.0/8", "2001:db8::/32"],
                &[],
                ip("2001:db8::7"),
                true,
            ),
            (&["10.0.0.0/8"], &[], ip("2001:db8::7"), false),
            (&[], &["127.0.0.1/32"], ip("127.0.0.1"), false),
            (&[], &["127.0.0.1/32"], ip("127.0.0.2"), true),
            // The deny-list wins over the allow-list.
            (&["10.0.0.0/8"], &["10.1.0.0/16"], ip("10.1.2.3"), false),
            (&["10.0.0.0/8"], &["10.1.0.0/16"], ip("10.2.2.3"), true),
            // cert-manager's HTTP-01 solver Ingress admits everyone.
            (&["0.0.0.0/0", "::/0"], &[], ip("198.51.100.1"), true),
            (&["0.0.0.0/0", "::/0"], &[], ip("2001:db8::1"), true),
            // No IP address (Unix socket): any list refuses.
            (&["0.0.0.0/0", "::/0"], &[], None, false),
            (&[], &["10.0.0.0/8"], None, false),
        ];
        for (allow, deny, client, want) in cases {
            assert_eq!(
                admits(&policy(allow, deny), *client),
                *want,
                "allow {allow:?} deny {deny:?} client {client:?}"
            );
        }
    }

    #[test]
    fn satisfy_any_with_basic_auth_leaves_the_decision_to_the_auth_step() {
        let mut ctx = ctx_with(RoutePolicy {
            satisfy: gatehouse_routes::Satisfy::Any,
            basic_auth: Some(gatehouse_routes::BasicAuth {
                realm: "r".into(),
                users: Default::default(),
            }),
            ..policy(&["127.0.0.2/32"], &[])
        });
        ctx.client_ip = Some("127.0.0.1".parse().expect("ip"));
        assert_eq!(step(&ctx), ControlFlow::Continue(()));
        // satisfy any without basic auth: the lists alone decide.
        let mut ctx = ctx_with(RoutePolicy {
            satisfy: gatehouse_routes::Satisfy::Any,
            ..policy(&["127.0.0.2/32"], &[])
        });
        ctx.client_ip = Some("127.0.0.1".parse().expect("ip"));
        assert!(matches!(
            step(&ctx),
            ControlFlow::Break(Answer::Text { status: 403, .. })
        ));
    }

    #[test]
    fn the_step_answers_403_or_continues() {
        let mut ctx = ctx_with(policy(&["127.0.0.2/32"], &[]));
        ctx.client_ip = Some("127.0.0.1".parse().expect("ip"));
        assert!(matches!(
            step(&ctx),
            ControlFlow::Break(Answer::Text { status: 403, .. })
        ));
        ctx.client_ip = Some("127.0.0.2".parse().expect("ip"));
        assert_eq!(step(&ctx), ControlFlow::Continue(()));
        // Unmatched requests are left to the 404 step.
        assert_eq!(step(&RequestCtx::new(None)), ControlFlow::Continue(()));
    }
}
