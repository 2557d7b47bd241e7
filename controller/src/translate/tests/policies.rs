//! Route policies from annotations: every route of an Ingress carries what its annotations ask
//! for, invalid values are reported and fall back to defaults, and host-wide redirects sit on
//! the host entry.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::translate::annotations::UnsupportedAnnotations;

fn with_default_backend(o: Object, service: &str) -> Object {
    let Object::Ingress(mut i) = o else {
        panic!("ingress expected")
    };
    if let Some(spec) = Arc::make_mut(&mut i).spec.as_mut() {
        spec.default_backend = Some(
            serde_json::from_value(json!({"service": {"name": service, "port": {"number": 80}}}))
                .expect("backend"),
        );
    }
    Object::Ingress(i)
}

/// An Ingress `ns/plain` on `plain.example` with no annotations: the control in each table.
fn plain_ingress() -> Object {
    ingress(
        "ns",
        "plain",
        Some("internal"),
        &[("plain.example", "/", "Prefix", "s", json!(80))],
    )
}

const TIMEOUT: &str = "nginx.ingress.kubernetes.io/proxy-connect-timeout";

#[test]
fn connect_timeout_reaches_every_route_of_its_ingress() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        with_default_backend(
            annotated(
                ingress(
                    "ns",
                    "slow",
                    Some("internal"),
                    &[
                        ("slow.example", "/", "Prefix", "s", json!(80)),
                        ("slow.example", "/api", "Exact", "s", json!(80)),
                    ],
                ),
                &[(TIMEOUT, "2")],
            ),
            "s",
        ),
        annotated(
            ingress(
                "ns",
                "bad",
                Some("internal"),
                &[("bad.example", "/", "Prefix", "s", json!(80))],
            ),
            &[(TIMEOUT, "later")],
        ),
        plain_ingress(),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let table = &t.tables["internal"];
    let timeout = |host: &str, path: &str| {
        table
            .lookup(host, path)
            .expect("route")
            .policy
            .connect_timeout
    };
    // (host, path, connect timeout)
    let cases = [
        ("slow.example", "/", Some(Duration::from_secs(2))),
        ("slow.example", "/api", Some(Duration::from_secs(2))),
        ("other.example", "/", Some(Duration::from_secs(2))), // the default backend
        ("bad.example", "/", None),
        ("plain.example", "/", None),
    ];
    for (host, path, want) in cases {
        assert_eq!(timeout(host, path), want, "{host}{path}");
    }
    let a = table.lookup("slow.example", "/").expect("route");
    let b = table.lookup("slow.example", "/api").expect("route");
    assert!(
        Arc::ptr_eq(&a.policy, &b.policy),
        "routes of one Ingress that behave alike share one policy"
    );
    assert_eq!(
        warning_list(&t),
        vec![(WarningKind::InvalidAnnotation, "Ingress ns/bad".to_string())]
    );
}

#[test]
fn backend_protocol_tls_and_vhost_reach_every_route_of_their_ingress() {
    use gatehouse_routes::{BackendProtocol, UpstreamTls};
    const PROTOCOL: &str = "nginx.ingress.kubernetes.io/backend-protocol";
    let route = |name: &str, host: &str, annotations: &[(&str, &str)]| {
        annotated(
            ingress(
                "ns",
                name,
                Some("internal"),
                &[
                    (host, "/", "Prefix", "s", json!(80)),
                    (host, "/api", "Exact", "s", json!(80)),
                ],
            ),
            annotations,
        )
    };
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        route(
            "secure",
            "secure.example",
            &[
                (PROTOCOL, "https"),
                ("nginx.ingress.kubernetes.io/proxy-ssl-verify", "on"),
                ("gatehouse.dev/proxy-ssl-name", "s.internal"),
                (
                    "nginx.ingress.kubernetes.io/upstream-vhost",
                    "s.internal:8443",
                ),
            ],
        ),
        route("grpc", "grpc.example", &[(PROTOCOL, "GRPC")]),
        route("ajp", "ajp.example", &[(PROTOCOL, "AJP")]),
        plain_ingress(),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let table = &t.tables["internal"];
    let secure_tls = UpstreamTls {
        verify: true,
        name: Some(Arc::from("s.internal")),
        server_name: false,
        ..UpstreamTls::default()
    };
    // (host, path, protocol, upstream tls, upstream-vhost)
    let cases = [
        (
            "secure.example",
            "/",
            BackendProtocol::Https,
            secure_tls.clone(),
            Some("s.internal:8443"),
        ),
        (
            "secure.example",
            "/api",
            BackendProtocol::Https,
            secure_tls,
            Some("s.internal:8443"),
        ),
        (
            "grpc.example",
            "/",
            BackendProtocol::Grpc,
            UpstreamTls::default(),
            None,
        ),
        (
            "grpc.example",
            "/api",
            BackendProtocol::Grpc,
            UpstreamTls::default(),
            None,
        ),
        (
            "ajp.example",
            "/",
            BackendProtocol::Http,
            UpstreamTls::default(),
            None,
        ),
        (
            "plain.example",
            "/",
            BackendProtocol::Http,
            UpstreamTls::default(),
            None,
        ),
    ];
    for (host, path, protocol, upstream_tls, vhost) in cases {
        let policy = &table.lookup(host, path).expect("route").policy;
        assert_eq!(policy.backend_protocol, protocol, "{host}{path}");
        assert_eq!(policy.upstream_tls, upstream_tls, "{host}{path}");
        assert_eq!(policy.upstream_vhost.as_deref(), vhost, "{host}{path}");
    }
    assert_eq!(
        warning_list(&t),
        vec![(WarningKind::InvalidAnnotation, "Ingress ns/ajp".to_string())]
    );
}

#[test]
fn tls_hosts_redirect_as_a_whole() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        obj(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"namespace": "ns", "name": "secure"},
            "spec": {"ingressClassName": "internal",
                "tls": [{"hosts": ["Secure.Example"]}],
                "rules": [{"host": "secure.example", "http": {"paths": [{"path": "/app", "pathType": "Prefix",
                    "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}}),
        ),
        plain_ingress(),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let table = &t.tables["internal"];
    let redirects = |host: &str| table.host_policy(host).map(|p| p.redirect_https);
    assert_eq!(redirects("secure.example"), Some(true));
    assert_eq!(redirects("plain.example"), Some(false));
    assert_eq!(redirects("absent.example"), None);
    let unmatched = table.find("secure.example", "/elsewhere");
    assert!(unmatched.fallback && unmatched.host.redirect_https);
}

#[test]
fn allow_encoded_slashes_is_per_ingress_and_gatehouse_only() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        annotated(
            ingress(
                "ns",
                "gitlab",
                Some("internal"),
                &[("git.example", "/api", "Prefix", "s", json!(80))],
            ),
            &[("gatehouse.dev/allow-encoded-slashes", "true")],
        ),
        // ingress-nginx has no such key; under its prefix it turns nothing on.
        annotated(
            ingress(
                "ns",
                "web",
                Some("internal"),
                &[("git.example", "/", "Prefix", "s", json!(80))],
            ),
            &[("nginx.ingress.kubernetes.io/allow-encoded-slashes", "true")],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let table = &t.tables["internal"];
    let allowed = |path: &str| {
        table
            .lookup("git.example", path)
            .expect("route")
            .policy
            .allow_encoded_slashes
    };
    assert!(allowed("/api/v4/projects/group%2Fproject"));
    assert!(!allowed("/"));
    assert!(!allowed("/apiary"));
    assert_eq!(
        warning_list(&t),
        vec![(
            WarningKind::UnsupportedAnnotation,
            "Ingress ns/web".to_string()
        )],
        "the key under ingress-nginx's prefix is unknown, and said to be"
    );
}

const AUTH_TLS: &str = "nginx.ingress.kubernetes.io/auth-tls-secret";
const ALLOW: &str = "nginx.ingress.kubernetes.io/whitelist-source-range";
const DENY: &str = "nginx.ingress.kubernetes.io/denylist-source-range";

/// Objects for the access-control tests: Service `s` and one Ingress per `(name, annotations)`,
/// each on host `<name>.example` with paths `/` and `/api`, plus a default backend on the
/// first.
fn access_objects(ingresses: &[(&str, &[(&str, &str)])]) -> Vec<Object> {
    let mut objects = vec![service("ns", "s", &[("http", 80)])];
    for (i, (name, annotations)) in ingresses.iter().enumerate() {
        let host = format!("{name}.example");
        let ing = annotated(
            ingress(
                "ns",
                name,
                Some("internal"),
                &[
                    (&host, "/", "Prefix", "s", json!(80)),
                    (&host, "/api", "Exact", "s", json!(80)),
                ],
            ),
            annotations,
        );
        objects.push(if i == 0 {
            with_default_backend(ing, "s")
        } else {
            ing
        });
    }
    objects
}

#[test]
fn unsupported_access_control_refuses_every_route_of_its_ingress() {
    let objects = access_objects(&[
        ("guarded", &[(AUTH_TLS, "ns/client-ca")]),
        (
            "rewritten",
            &[("nginx.ingress.kubernetes.io/rewrite-target", "/")],
        ),
        ("plain", &[]),
    ]);
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let table = &t.tables["internal"];
    let refuse = |host: &str, path: &str| {
        table
            .lookup(host, path)
            .expect("route")
            .policy
            .refuse
            .clone()
    };
    for (host, path) in [
        ("guarded.example", "/"),
        ("guarded.example", "/api"),
        ("elsewhere.example", "/"), // the refused Ingress's default backend
    ] {
        let reason = refuse(host, path).unwrap_or_else(|| panic!("{host}{path} is refused"));
        assert!(reason.contains(AUTH_TLS), "{reason}");
    }
    assert_eq!(refuse("rewritten.example", "/"), None);
    assert_eq!(refuse("plain.example", "/"), None);
    assert_eq!(
        warning_list(&t),
        vec![
            (
                WarningKind::UnsupportedAccessControl,
                "Ingress ns/guarded".to_string()
            ),
            (
                WarningKind::UnsupportedAnnotation,
                "Ingress ns/rewritten".to_string()
            ),
        ]
    );
    assert!(
        t.warnings
            .iter()
            .all(|w| w.class.as_deref() == Some("internal")),
        "warnings concern the Ingress's class: {:?}",
        t.warnings
    );
}

#[test]
fn ignoring_unsupported_access_control_serves_and_still_warns() {
    let objects = access_objects(&[("guarded", &[(AUTH_TLS, "ns/client-ca")])]);
    let mut config = two_classes();
    config.unsupported_annotations = UnsupportedAnnotations::Ignore;
    let t = translate(&Snapshot::from_objects(objects), &config);
    let route = t.tables["internal"]
        .lookup("guarded.example", "/")
        .expect("route");
    assert_eq!(route.policy.refuse, None);
    assert_eq!(
        warning_list(&t),
        vec![(
            WarningKind::UnsupportedAccessControl,
            "Ingress ns/guarded".to_string()
        )]
    );
}

#[test]
fn source_ranges_reach_every_route_and_invalid_ones_refuse_whatever_the_flag() {
    for mode in [
        UnsupportedAnnotations::FailClosed,
        UnsupportedAnnotations::Ignore,
    ] {
        let objects = access_objects(&[
            (
                "listed",
                &[(ALLOW, "10.0.0.0/8, 2001:db8::/32"), (DENY, "10.9.0.0/16")],
            ),
            ("solver", &[(ALLOW, "0.0.0.0/0,::/0")]),
            ("broken", &[(ALLOW, "10.0.0.0/8,intranet")]),
        ]);
        let mut config = two_classes();
        config.unsupported_annotations = mode;
        let t = translate(&Snapshot::from_objects(objects), &config);
        let table = &t.tables["internal"];
        let policy =
            |host: &str, path: &str| table.lookup(host, path).expect("route").policy.clone();
        for (host, path) in [
            ("listed.example", "/"),
            ("listed.example", "/api"),
            ("elsewhere.example", "/"),
        ] {
            let p = policy(host, path);
            assert_eq!(
                p.allow_sources.as_ref().map(|r| r.to_string()).as_deref(),
                Some("10.0.0.0/8,2001:db8::/32"),
                "{host}{path}"
            );
            assert_eq!(
                p.deny_sources.as_ref().map(|r| r.to_string()).as_deref(),
                Some("10.9.0.0/16")
            );
            assert_eq!(p.refuse, None);
        }
        let solver = policy("solver.example", "/");
        assert!(solver.refuse.is_none());
        assert!(solver
            .allow_sources
            .as_ref()
            .is_some_and(|r| r.contains("198.51.100.7".parse().expect("ip"))));
        let broken = policy("broken.example", "/");
        assert!(
            broken.refuse.as_deref().is_some_and(|r| r.contains(ALLOW)),
            "{mode:?}: an invalid allow-list refuses: {broken:?}"
        );
        assert_eq!(
            warning_list(&t),
            vec![(
                WarningKind::InvalidAnnotation,
                "Ingress ns/broken".to_string()
            )]
        );
    }
}

#[test]
fn global_auth_applies_unless_the_ingress_has_its_own_or_opts_out() {
    use crate::translate::annotations::forward_auth::{
        from_settings, parse_locations, AuthSettings, GlobalAuth, DEFAULT_NO_AUTH_LOCATIONS,
    };
    let global = from_settings(&AuthSettings {
        url: "http://authelia.auth.svc/api/verify",
        ..AuthSettings::default()
    })
    .expect("global auth");
    let own = "http://oauth2-proxy.auth.svc/oauth2/auth";
    let mut objects = access_objects(&[
        ("plain", &[]),
        ("own", &[("nginx.ingress.kubernetes.io/auth-url", own)]),
        (
            "optout",
            &[("nginx.ingress.kubernetes.io/enable-global-auth", "false")],
        ),
    ]);
    // cert-manager's solver Ingress: exempt through --no-auth-locations.
    objects.push(ingress(
        "ns",
        "solver",
        Some("internal"),
        &[(
            "plain.example",
            "/.well-known/acme-challenge/token",
            "Exact",
            "s",
            json!(80),
        )],
    ));
    let mut config = two_classes();
    config.global_auth = Some(GlobalAuth {
        auth: std::sync::Arc::new(global),
        no_auth_locations: parse_locations(DEFAULT_NO_AUTH_LOCATIONS).expect("locations"),
    });
    let t = translate(&Snapshot::from_objects(objects), &config);
    let table = &t.tables["internal"];
    let url = |host: &str, path: &str| {
        table
            .lookup(host, path)
            .expect("route")
            .policy
            .forward_auth
            .as_ref()
            .map(|a| a.url.source().to_string())
    };
    let global_url = Some("http://authelia.auth.svc/api/verify".to_string());
    assert_eq!(url("plain.example", "/"), global_url);
    assert_eq!(url("plain.example", "/api"), global_url);
    assert_eq!(url("own.example", "/"), Some(own.to_string()));
    assert_eq!(url("optout.example", "/"), None);
    assert_eq!(
        url("plain.example", "/.well-known/acme-challenge/token"),
        None
    );
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);

    // Without the flag nothing is added.
    let objects = access_objects(&[("plain", &[])]);
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    assert!(t.tables["internal"]
        .lookup("plain.example", "/")
        .expect("route")
        .policy
        .forward_auth
        .is_none());
}

#[test]
fn ingresses_that_behave_alike_share_one_policy() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        plain_ingress(),
        ingress(
            "ns",
            "other",
            Some("internal"),
            &[("other.example", "/", "Prefix", "s", json!(80))],
        ),
        annotated(
            ingress(
                "ns",
                "slow",
                Some("internal"),
                &[("slow.example", "/", "Prefix", "s", json!(80))],
            ),
            &[(TIMEOUT, "2")],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let table = &t.tables["internal"];
    let policy = |host: &str| table.lookup(host, "/").expect("route").policy.clone();
    assert!(Arc::ptr_eq(
        &policy("plain.example"),
        &policy("other.example")
    ));
    assert!(!Arc::ptr_eq(
        &policy("plain.example"),
        &policy("slow.example")
    ));
    assert_eq!(
        policy("slow.example").connect_timeout,
        Some(Duration::from_secs(2))
    );
}
