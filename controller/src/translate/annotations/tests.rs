//! Table tests: annotations in, typed values and warnings out.

use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;
use serde_json::json;

use super::*;
use crate::translate::basic_auth::AuthSecretType;
use crate::translate::proxy_ssl::ProxySslRequest;

fn ingress(annotations: &[(&str, &str)]) -> Ingress {
    let map: serde_json::Map<String, serde_json::Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"namespace": "ns", "name": "app", "annotations": map},
        "spec": {}
    }))
    .expect("ingress fixture")
}

/// Parses with the default `--unsupported-annotations=fail-closed`.
fn parse(annotations: &[(&str, &str)]) -> (IngressAnnotations, Vec<Warning>) {
    IngressAnnotations::parse(&ingress(annotations), UnsupportedAnnotations::FailClosed)
}

fn nginx(name: &str) -> String {
    format!("{NGINX_PREFIX}{name}")
}

fn own(name: &str) -> String {
    format!("{GATEHOUSE_PREFIX}{name}")
}

/// Annotations in, the parsed value and the number of warnings out.
type Case = (Vec<(String, &'static str)>, IngressAnnotations, usize);

#[test]
fn parses_each_key_under_both_prefixes() {
    let secs = Duration::from_secs;
    let default = IngressAnnotations::default();
    // (annotations, expected, number of warnings)
    let cases: Vec<Case> = vec![
        (vec![], default.clone(), 0),
        (
            vec![(nginx(SSL_REDIRECT), "false")],
            IngressAnnotations {
                ssl_redirect: false,
                ..default.clone()
            },
            0,
        ),
        (
            vec![(own(SSL_REDIRECT), "false")],
            IngressAnnotations {
                ssl_redirect: false,
                ..default.clone()
            },
            0,
        ),
        (
            vec![(nginx(FORCE_SSL_REDIRECT), "true")],
            IngressAnnotations {
                force_ssl_redirect: true,
                ..default.clone()
            },
            0,
        ),
        (
            vec![(nginx(PROXY_CONNECT_TIMEOUT), "15")],
            IngressAnnotations {
                connect_timeout: Some(secs(15)),
                ..default.clone()
            },
            0,
        ),
        (
            vec![(own(PROXY_CONNECT_TIMEOUT), "250ms")],
            IngressAnnotations {
                connect_timeout: Some(Duration::from_millis(250)),
                ..default.clone()
            },
            0,
        ),
        (
            vec![(ACME.to_string(), "true")],
            IngressAnnotations {
                acme: Some(true),
                ..default.clone()
            },
            0,
        ),
        // gatehouse's prefix wins, and the disagreement is reported.
        (
            vec![
                (nginx(PROXY_CONNECT_TIMEOUT), "10"),
                (own(PROXY_CONNECT_TIMEOUT), "2"),
            ],
            IngressAnnotations {
                connect_timeout: Some(secs(2)),
                ..default.clone()
            },
            1,
        ),
        // The same value under both prefixes is no problem.
        (
            vec![(nginx(SSL_REDIRECT), "false"), (own(SSL_REDIRECT), "False")],
            IngressAnnotations {
                ssl_redirect: false,
                ..default.clone()
            },
            0,
        ),
        // Invalid values warn and keep the default.
        (vec![(nginx(SSL_REDIRECT), "yes")], default.clone(), 1),
        (
            vec![(nginx(PROXY_CONNECT_TIMEOUT), "soon")],
            default.clone(),
            1,
        ),
        (
            vec![(nginx(PROXY_CONNECT_TIMEOUT), "0")],
            default.clone(),
            1,
        ),
        (vec![(ACME.to_string(), "please")], default.clone(), 1),
        (
            vec![(ALLOW_ENCODED_SLASHES.to_string(), "true")],
            IngressAnnotations {
                allow_encoded_slashes: true,
                ..default.clone()
            },
            0,
        ),
        (
            vec![(ALLOW_ENCODED_SLASHES.to_string(), "sometimes")],
            default.clone(),
            1,
        ),
        (
            vec![(nginx(BACKEND_PROTOCOL), "grpcs")],
            IngressAnnotations {
                backend_protocol: BackendProtocol::Grpcs,
                ..default.clone()
            },
            0,
        ),
        (
            vec![(own(BACKEND_PROTOCOL), "H2C")],
            IngressAnnotations {
                backend_protocol: BackendProtocol::H2c,
                ..default.clone()
            },
            0,
        ),
        // Valid for ingress-nginx, not spoken by gatehouse: a warning, and HTTP applies.
        (vec![(nginx(BACKEND_PROTOCOL), "FCGI")], default.clone(), 1),
        (vec![(nginx(BACKEND_PROTOCOL), "SPDY")], default.clone(), 1),
        (
            vec![
                (nginx(BACKEND_PROTOCOL), "HTTPS"),
                (nginx(PROXY_SSL_VERIFY), "on"),
                (nginx(PROXY_SSL_NAME), "API.Internal"),
                (nginx(PROXY_SSL_SERVER_NAME), "on"),
            ],
            IngressAnnotations {
                backend_protocol: BackendProtocol::Https,
                upstream_tls: UpstreamTls {
                    verify: true,
                    name: Some(Arc::from("api.internal")),
                    server_name: true,
                    ..UpstreamTls::default()
                },
                ..default.clone()
            },
            0,
        ),
        (
            vec![
                (nginx(PROXY_SSL_VERIFY), "yes"),
                (nginx(PROXY_SSL_NAME), "not a name"),
                (nginx(PROXY_SSL_SERVER_NAME), "true"),
            ],
            default.clone(),
            3,
        ),
        (
            vec![(nginx(UPSTREAM_VHOST), "api.internal:8080")],
            IngressAnnotations {
                upstream_vhost: Some(Arc::from("api.internal:8080")),
                ..default.clone()
            },
            0,
        ),
        (vec![(nginx(UPSTREAM_VHOST), "a/b")], default.clone(), 1),
        (
            vec![(nginx(SERVICE_UPSTREAM), "true")],
            IngressAnnotations {
                service_upstream: true,
                ..default.clone()
            },
            0,
        ),
        (vec![(nginx(SERVICE_UPSTREAM), "maybe")], default.clone(), 1),
    ];
    for (annotations, want, n_warnings) in cases {
        let pairs: Vec<(&str, &str)> = annotations.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let (got, warnings) =
            IngressAnnotations::parse(&ingress(&pairs), UnsupportedAnnotations::FailClosed);
        assert_eq!(got, want, "{pairs:?}");
        assert_eq!(warnings.len(), n_warnings, "{pairs:?}: {warnings:?}");
        for w in &warnings {
            assert_eq!(w.kind, WarningKind::InvalidAnnotation);
            assert_eq!(w.object.to_string(), "Ingress ns/app");
        }
    }
}

#[test]
fn warnings_name_the_key_and_the_expected_form() {
    let key = nginx(PROXY_CONNECT_TIMEOUT);
    let (_, warnings) = parse(&[(&key, "soon")]);
    let message = &warnings[0].message;
    assert!(message.contains(&key), "{message}");
    assert!(message.contains("500ms"), "{message}");
}

#[test]
fn route_policy_carries_the_parsed_values() {
    let (parsed, _) = parse(&[
        (&nginx(PROXY_CONNECT_TIMEOUT), "3"),
        (ALLOW_ENCODED_SLASHES, "true"),
    ]);
    let policy = parsed.route_policy(true, None);
    assert!(policy.redirect_https);
    assert_eq!(policy.connect_timeout, Some(Duration::from_secs(3)));
    assert!(policy.allow_encoded_slashes);
    let (parsed, _) = parse(&[
        (&nginx(BACKEND_PROTOCOL), "GRPC"),
        (&nginx(PROXY_SSL_VERIFY), "on"),
        (&nginx(UPSTREAM_VHOST), "api.internal"),
    ]);
    let policy = parsed.route_policy(false, None);
    assert_eq!(policy.backend_protocol, BackendProtocol::Grpc);
    assert!(policy.upstream_tls.verify);
    assert_eq!(policy.upstream_vhost.as_deref(), Some("api.internal"));
    assert_eq!(
        IngressAnnotations::default().route_policy(false, None),
        RoutePolicy::default()
    );
}

#[test]
fn class_annotations() {
    let ing = ingress(&[(LEGACY_CLASS, "external")]);
    assert_eq!(legacy_class(&ing), Some("external"));
    assert_eq!(legacy_class(&ingress(&[])), None);
    let class = |v: &str| -> IngressClass {
        serde_json::from_value(
            json!({"metadata": {"name": "c", "annotations": {DEFAULT_CLASS: v}}}),
        )
        .expect("class fixture")
    };
    assert!(is_default_class(&class("true")));
    assert!(!is_default_class(&class("false")));
}

#[test]
fn read_keys_are_sorted_and_unique() {
    assert!(READ.windows(2).all(|w| w[0] < w[1]), "{READ:?}");
}

#[test]
fn the_catalog_marks_exactly_the_keys_the_parser_reads_as_supported() {
    use super::catalog::{self, Support};
    for name in READ {
        let info = catalog::lookup(name).unwrap_or_else(|| panic!("{name} is not in the catalog"));
        assert!(
            matches!(
                info.support,
                Support::Supported | Support::SupportedWithDifference(_)
            ),
            "{name} is read but classified {:?}",
            info.support
        );
    }
    for info in catalog::ANNOTATIONS {
        if matches!(
            info.support,
            Support::Supported | Support::SupportedWithDifference(_)
        ) {
            assert!(
                READ.contains(&info.name),
                "{} is classified as supported but nothing parses it",
                info.name
            );
        }
    }
}

fn ranges(list: &[&str]) -> Option<SourceRanges> {
    SourceRanges::new(
        list.iter()
            .map(|s| s.parse::<gatehouse_routes::IpNet>().expect("cidr"))
            .collect(),
    )
}

#[test]
fn source_range_values() {
    // (value, the ranges it means; None: invalid)
    let cases: &[(&str, Option<&[&str]>)] = &[
        ("10.0.0.0/8", Some(&["10.0.0.0/8"])),
        (
            "10.0.0.0/8,192.168.0.0/16",
            Some(&["10.0.0.0/8", "192.168.0.0/16"]),
        ),
        (
            " 10.0.0.0/8 , 192.168.0.0/16 ",
            Some(&["10.0.0.0/8", "192.168.0.0/16"]),
        ),
        // A bare address is that one address.
        ("127.0.0.2", Some(&["127.0.0.2/32"])),
        ("2001:db8::1", Some(&["2001:db8::1/128"])),
        ("2001:db8::/32, ::1", Some(&["2001:db8::/32", "::1/128"])),
        // cert-manager's HTTP-01 solver Ingress.
        ("0.0.0.0/0,::/0", Some(&["0.0.0.0/0", "::/0"])),
        // Host bits are cleared, as Go's ParseCIDR does; duplicates fold.
        ("10.1.2.3/8", Some(&["10.0.0.0/8"])),
        ("10.0.0.0/8,10.0.0.0/8", Some(&["10.0.0.0/8"])),
        ("::ffff:10.0.0.1", Some(&["::ffff:10.0.0.1/128"])),
        // Invalid: the whole value, never a part of it.
        ("", None),
        ("   ", None),
        ("10.0.0.0/8,", None),
        (",10.0.0.0/8", None),
        ("10.0.0.0/8,,192.168.0.0/16", None),
        ("10.0.0.0/33", None),
        ("2001:db8::/129", None),
        ("10.0.0.256", None),
        ("10.0.0.0/8,nope", None),
        ("example.com", None),
        ("10.0.0.0 /8", None),
        ("[::1]", None),
        ("fe80::1%eth0", None),
        ("10.0.0.0/8;192.168.0.0/16", None),
        ("10.0.0.0/8 192.168.0.0/16", None),
    ];
    for (value, want) in cases {
        let got = values::parse_source_ranges(value).ok();
        assert_eq!(got, want.and_then(ranges), "{value:?}");
    }
    let err = values::parse_source_ranges("10.0.0.0/8,nope").expect_err("invalid");
    assert!(
        err.contains("\"nope\""),
        "the message names the bad entry: {err}"
    );
}

#[test]
fn source_ranges_under_each_key_and_prefix() {
    let allow = |list: &[&str]| IngressAnnotations {
        allow_sources: ranges(list),
        ..IngressAnnotations::default()
    };
    // (annotations, expected, number of warnings)
    let cases: Vec<Case> = vec![
        (
            vec![(nginx(WHITELIST_SOURCE_RANGE), "10.0.0.0/8")],
            allow(&["10.0.0.0/8"]),
            0,
        ),
        (
            vec![(nginx(ALLOWLIST_SOURCE_RANGE), "10.0.0.0/8")],
            allow(&["10.0.0.0/8"]),
            0,
        ),
        (
            vec![(own(WHITELIST_SOURCE_RANGE), "10.0.0.0/8")],
            allow(&["10.0.0.0/8"]),
            0,
        ),
        (
            vec![(nginx(DENYLIST_SOURCE_RANGE), "127.0.0.1")],
            IngressAnnotations {
                deny_sources: ranges(&["127.0.0.1/32"]),
                ..IngressAnnotations::default()
            },
            0,
        ),
        (
            vec![(nginx(WHITELIST_SOURCE_RANGE), "0.0.0.0/0,::/0")],
            allow(&["0.0.0.0/0", "::/0"]),
            0,
        ),
        // allowlist- is ingress-nginx's current name and wins over its old alias; gatehouse's
        // prefix wins over ingress-nginx's. A disagreement is reported.
        (
            vec![
                (nginx(WHITELIST_SOURCE_RANGE), "10.0.0.0/8"),
                (nginx(ALLOWLIST_SOURCE_RANGE), "192.168.0.0/16"),
            ],
            allow(&["192.168.0.0/16"]),
            1,
        ),
        (
            vec![
                (nginx(ALLOWLIST_SOURCE_RANGE), "10.0.0.0/8"),
                (own(ALLOWLIST_SOURCE_RANGE), "192.168.0.0/16"),
            ],
            allow(&["192.168.0.0/16"]),
            1,
        ),
        (
            vec![
                (nginx(WHITELIST_SOURCE_RANGE), "10.0.0.0/8"),
                (nginx(ALLOWLIST_SOURCE_RANGE), " 10.0.0.0/8"),
            ],
            allow(&["10.0.0.0/8"]),
            0,
        ),
    ];
    for (annotations, want, n_warnings) in cases {
        let pairs: Vec<(&str, &str)> = annotations.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let (got, warnings) = parse(&pairs);
        assert_eq!(got, want, "{pairs:?}");
        assert_eq!(warnings.len(), n_warnings, "{pairs:?}: {warnings:?}");
    }
}

#[test]
fn invalid_access_control_fails_closed_whatever_the_mode() {
    let cases: &[&[(&str, &str)]] = &[
        &[("nginx.ingress.kubernetes.io/whitelist-source-range", "")],
        &[(
            "nginx.ingress.kubernetes.io/whitelist-source-range",
            "10.0.0.0/8,nope",
        )],
        &[(
            "nginx.ingress.kubernetes.io/denylist-source-range",
            "10.0.0.0/33",
        )],
        &[("gatehouse.dev/allowlist-source-range", "everyone")],
        // A valid value under another key does not rescue an invalid one.
        &[
            ("nginx.ingress.kubernetes.io/whitelist-source-range", "nope"),
            ("gatehouse.dev/whitelist-source-range", "10.0.0.0/8"),
        ],
    ];
    for annotations in cases {
        for mode in [
            UnsupportedAnnotations::FailClosed,
            UnsupportedAnnotations::Ignore,
        ] {
            let (got, warnings) = IngressAnnotations::parse(&ingress(annotations), mode);
            let reason = got
                .refuse
                .as_deref()
                .unwrap_or_else(|| panic!("{annotations:?} ({mode:?}) must refuse the Ingress"));
            assert!(reason.contains("invalid value"), "{reason}");
            let (bad, _) = annotations[0];
            assert!(reason.contains(bad), "the reason names {bad}: {reason}");
            assert!(
                warnings
                    .iter()
                    .any(|w| w.kind == WarningKind::InvalidAnnotation && w.message.contains(bad)),
                "{warnings:?}"
            );
            assert!(got.route_policy(false, None).refuse.is_some());
        }
    }
}

#[test]
fn unread_annotations_are_classified() {
    use UnsupportedAnnotations::{FailClosed, Ignore};
    let nginx_key = |name: &str| format!("{NGINX_PREFIX}{name}");
    // (annotation, value, mode, warning kind or none, refused)
    let cases: Vec<(
        String,
        &str,
        UnsupportedAnnotations,
        Option<WarningKind>,
        bool,
    )> = vec![
        // Unsupported access control: 503 by default, served with the flag; warned both ways.
        (
            nginx_key("auth-tls-secret"),
            "ns/client-ca",
            FailClosed,
            Some(WarningKind::UnsupportedAccessControl),
            true,
        ),
        (
            nginx_key("auth-tls-secret"),
            "ns/client-ca",
            Ignore,
            Some(WarningKind::UnsupportedAccessControl),
            false,
        ),
        // Digest authentication is not implemented.
        (
            nginx_key("auth-type"),
            "digest",
            FailClosed,
            Some(WarningKind::UnsupportedAccessControl),
            true,
        ),
        (
            nginx_key("auth-type"),
            "digest",
            Ignore,
            Some(WarningKind::UnsupportedAccessControl),
            false,
        ),
        (
            nginx_key("auth-tls-verify-client"),
            "on",
            FailClosed,
            Some(WarningKind::UnsupportedAccessControl),
            true,
        ),
        (nginx_key("satisfy"), "any", FailClosed, None, false),
        (
            nginx_key("configuration-snippet"),
            "deny all;",
            FailClosed,
            Some(WarningKind::UnsupportedAccessControl),
            true,
        ),
        (
            own("auth-tls-secret"),
            "ns/client-ca",
            FailClosed,
            Some(WarningKind::UnsupportedAccessControl),
            true,
        ),
        // Supported now: a valid auth-url is read, no warning.
        (
            nginx_key("auth-url"),
            "https://auth.example/check",
            FailClosed,
            None,
            false,
        ),
        // Access control turned off asks for nothing.
        (
            nginx_key("auth-tls-verify-client"),
            "off",
            FailClosed,
            None,
            false,
        ),
        (
            nginx_key("enable-modsecurity"),
            "false",
            FailClosed,
            None,
            false,
        ),
        (
            nginx_key("enable-global-auth"),
            "false",
            FailClosed,
            None,
            false,
        ),
        (
            nginx_key("enable-modsecurity"),
            "true",
            FailClosed,
            Some(WarningKind::UnsupportedAccessControl),
            true,
        ),
        // A routing switch turned off asks for nothing either; turned on, it warns.
        (nginx_key("use-regex"), "false", FailClosed, None, false),
        (nginx_key("canary"), "false", FailClosed, None, false),
        (
            nginx_key("use-regex"),
            "true",
            FailClosed,
            Some(WarningKind::UnsupportedAnnotation),
            false,
        ),
        // Unsupported, not access control: served, one warning.
        (
            nginx_key("rewrite-target"),
            "/",
            FailClosed,
            Some(WarningKind::UnsupportedAnnotation),
            false,
        ),
        // Without auth-type, the other basic-auth keys ask for nothing (as in ingress-nginx).
        (nginx_key("auth-realm"), "x", FailClosed, None, false),
        (nginx_key("auth-secret"), "creds", FailClosed, None, false),
        (
            nginx_key("limit-rps"),
            "10",
            FailClosed,
            Some(WarningKind::UnsupportedAnnotation),
            false,
        ),
        // Harmless: nothing.
        (nginx_key("proxy-buffering"), "off", FailClosed, None, false),
        (
            nginx_key("limit-whitelist"),
            "10.0.0.0/8",
            FailClosed,
            None,
            false,
        ),
        // Unknown keys under either prefix: one warning.
        (
            nginx_key("no-such-thing"),
            "1",
            FailClosed,
            Some(WarningKind::UnsupportedAnnotation),
            false,
        ),
        (
            own("no-such-thing"),
            "1",
            FailClosed,
            Some(WarningKind::UnsupportedAnnotation),
            false,
        ),
        // Other prefixes are not ours.
        (
            "cert-manager.io/cluster-issuer".to_string(),
            "le",
            FailClosed,
            None,
            false,
        ),
        (
            "kubernetes.io/ingress.class".to_string(),
            "internal",
            FailClosed,
            None,
            false,
        ),
        (ACME.to_string(), "true", FailClosed, None, false),
    ];
    for (key, value, mode, kind, refused) in cases {
        let (got, warnings) = IngressAnnotations::parse(&ingress(&[(&key, value)]), mode);
        let kinds: Vec<_> = warnings.iter().map(|w| w.kind).collect();
        assert_eq!(
            kinds,
            kind.into_iter().collect::<Vec<_>>(),
            "{key}: {value:?} {mode:?}"
        );
        for w in &warnings {
            assert!(w.message.contains(&key), "the warning names {key}: {w}");
            assert_eq!(w.object.to_string(), "Ingress ns/app");
        }
        assert_eq!(got.refuse.is_some(), refused, "{key}: {value:?} {mode:?}");
        if let Some(reason) = &got.refuse {
            assert!(
                reason.contains(&key) && reason.contains("not supported"),
                "{reason}"
            );
        }
    }
}

#[test]
fn warning_texts() {
    let (_, w) = parse(&[(&nginx("rewrite-target"), "/")]);
    assert_eq!(
        w[0].message,
        "annotation nginx.ingress.kubernetes.io/rewrite-target is not supported: Requests reach the backend with the original path."
    );
    let (_, w) = parse(&[(&nginx("rewrite-targt"), "/")]);
    assert_eq!(
        w[0].message,
        "unknown annotation nginx.ingress.kubernetes.io/rewrite-targt: gatehouse does not read it"
    );
    let (_, w) = parse(&[(&nginx("auth-tls-secret"), "ns/ca")]);
    assert!(w[0].message.contains("answers 503"), "{}", w[0].message);
    let (_, w) = IngressAnnotations::parse(
        &ingress(&[(&nginx("auth-tls-secret"), "ns/ca")]),
        UnsupportedAnnotations::Ignore,
    );
    assert!(
        w[0].message.contains("served without it") && w[0].message.contains("Client certificates"),
        "{}",
        w[0].message
    );
}

#[test]
fn one_refusal_names_every_annotation() {
    let (got, warnings) = parse(&[
        (&nginx("auth-tls-secret"), "ns/ca"),
        (&nginx("auth-type"), "digest"),
        (&nginx(DENYLIST_SOURCE_RANGE), "nope"),
        (&nginx(WHITELIST_SOURCE_RANGE), "10.0.0.0/8"),
    ]);
    let reason = got.refuse.expect("refused");
    for part in [
        "nginx.ingress.kubernetes.io/auth-tls-secret (not supported)",
        "nginx.ingress.kubernetes.io/auth-type (not supported)",
        "nginx.ingress.kubernetes.io/denylist-source-range (invalid value)",
    ] {
        assert!(reason.contains(part), "{reason}");
    }
    assert!(!reason.contains("whitelist"), "{reason}");
    assert_eq!(warnings.len(), 3, "{warnings:?}");
}

/// (annotations, expected basic-auth request, expected satisfy, refusal must contain)
type AuthCase = (
    Vec<(String, &'static str)>,
    Option<BasicAuthRequest>,
    Satisfy,
    Option<&'static str>,
);

#[test]
fn basic_auth_and_satisfy() {
    let request = |ns: &str, name: &str, ty: AuthSecretType, realm: &str| {
        Some(BasicAuthRequest {
            secret_key: nginx(AUTH_SECRET),
            namespace: ns.to_string(),
            name: name.to_string(),
            secret_type: ty,
            realm: Arc::from(realm),
        })
    };
    let basic = || (nginx(AUTH_TYPE), "basic");
    let cases: Vec<AuthCase> = vec![
        (vec![], None, Satisfy::All, None),
        (
            vec![basic(), (nginx(AUTH_SECRET), "creds")],
            request("ns", "creds", AuthSecretType::File, ""),
            Satisfy::All,
            None,
        ),
        (
            vec![
                basic(),
                (nginx(AUTH_SECRET), "other/creds"),
                (nginx(AUTH_SECRET_TYPE), "auth-map"),
                (nginx(AUTH_REALM), "Staff \"only\""),
                (nginx(SATISFY), "any"),
            ],
            request("other", "creds", AuthSecretType::Map, "Staff \"only\""),
            Satisfy::Any,
            None,
        ),
        (
            vec![basic(), (nginx(AUTH_SECRET_TYPE), "auth-file")],
            None,
            Satisfy::All,
            Some("auth-secret (invalid value)"),
        ),
        (
            vec![basic(), (nginx(AUTH_SECRET), "Not A Name")],
            None,
            Satisfy::All,
            Some("auth-secret (invalid value)"),
        ),
        (
            vec![basic(), (nginx(AUTH_SECRET), "a/b/c")],
            None,
            Satisfy::All,
            Some("auth-secret (invalid value)"),
        ),
        (
            vec![
                basic(),
                (nginx(AUTH_SECRET), "creds"),
                (nginx(AUTH_SECRET_TYPE), "auth-ldap"),
            ],
            request("ns", "creds", AuthSecretType::File, ""),
            Satisfy::All,
            Some("auth-secret-type (invalid value)"),
        ),
        (
            vec![
                basic(),
                (nginx(AUTH_SECRET), "creds"),
                (nginx(AUTH_REALM), "a\r\nSet-Cookie: x"),
            ],
            request("ns", "creds", AuthSecretType::File, ""),
            Satisfy::All,
            Some("auth-realm (invalid value)"),
        ),
        (
            vec![(nginx(AUTH_TYPE), "Basic"), (nginx(AUTH_SECRET), "creds")],
            None,
            Satisfy::All,
            Some("auth-type (invalid value)"),
        ),
        (
            vec![(nginx(AUTH_TYPE), "digest"), (nginx(AUTH_SECRET), "creds")],
            None,
            Satisfy::All,
            Some("auth-type (not supported)"),
        ),
        (
            vec![(nginx(SATISFY), "either")],
            None,
            Satisfy::All,
            Some("satisfy (invalid value)"),
        ),
        // gatehouse's prefix names the key in the request.
        (
            vec![(own(AUTH_TYPE), "basic"), (own(AUTH_SECRET), "creds")],
            Some(BasicAuthRequest {
                secret_key: own(AUTH_SECRET),
                ..request("ns", "creds", AuthSecretType::File, "").expect("request")
            }),
            Satisfy::All,
            None,
        ),
    ];
    for (annotations, want, satisfy, refusal) in cases {
        let pairs: Vec<(&str, &str)> = annotations.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let (got, warnings) = parse(&pairs);
        assert_eq!(got.basic_auth, want, "{annotations:?}");
        assert_eq!(got.satisfy, satisfy, "{annotations:?}");
        match refusal {
            None => {
                assert_eq!(got.refuse, None, "{annotations:?}");
                assert!(warnings.is_empty(), "{annotations:?}: {warnings:?}");
            }
            Some(part) => {
                let reason = got.refuse.as_deref().unwrap_or_default();
                assert!(reason.contains(part), "{annotations:?}: {reason}");
                assert!(!warnings.is_empty(), "{annotations:?}");
            }
        }
    }
}

#[test]
fn forward_auth_annotations() {
    // The shapes real clusters use: Authelia, Authentik's outpost, oauth2-proxy.
    let (got, w) = parse(&[
        (
            &nginx(AUTH_URL),
            "http://authelia.auth.svc/api/authz/auth-request",
        ),
        (&nginx(AUTH_METHOD), "GET"),
        (
            &nginx(AUTH_SIGNIN),
            "https://auth.example.com?rm=$request_method",
        ),
        (
            &nginx(AUTH_RESPONSE_HEADERS),
            "Remote-User,Remote-Name,Remote-Groups,Remote-Email",
        ),
        (
            &nginx(AUTH_SNIPPET),
            "proxy_set_header X-Forwarded-Method $request_method;",
        ),
    ]);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(got.refuse, None);
    let auth = got.forward_auth.expect("forward auth");
    assert_eq!(
        auth.url.source(),
        "http://authelia.auth.svc/api/authz/auth-request"
    );
    assert_eq!(auth.method, Some(http::Method::GET));
    assert_eq!(
        auth.signin.as_ref().map(|s| s.source()),
        Some("https://auth.example.com?rm=$request_method&rd=$pass_access_scheme://$http_host$escaped_request_uri")
    );
    assert_eq!(auth.response_headers.len(), 4);
    assert_eq!(auth.set_headers.len(), 1);

    let (got, w) = parse(&[
        (&own(AUTH_URL), "https://$host/oauth2/auth"),
        (
            &nginx(AUTH_SIGNIN),
            "https://$host/oauth2/start?rd=$escaped_request_uri",
        ),
        (&nginx(AUTH_SIGNIN_REDIRECT_PARAM), "redirect"),
        (&nginx(AUTH_ALWAYS_SET_COOKIE), "true"),
        (&nginx(AUTH_REQUEST_REDIRECT), "$scheme://$host$request_uri"),
    ]);
    assert!(w.is_empty(), "{w:?}");
    let auth = got.forward_auth.expect("forward auth");
    assert_eq!(
        auth.signin.as_ref().map(|s| s.source()),
        Some("https://$host/oauth2/start?rd=$escaped_request_uri&redirect=$pass_access_scheme://$http_host$escaped_request_uri")
    );
    assert!(auth.always_set_cookie);
    assert!(auth.request_redirect.is_some());

    // Companions without auth-url ask for nothing, as in ingress-nginx.
    let (got, w) = parse(&[(&nginx(AUTH_SIGNIN), "https://auth.example.com")]);
    assert!(w.is_empty() && got.forward_auth.is_none() && got.refuse.is_none());

    // Every invalid value fails closed, naming its key.
    for (key, value) in [
        (AUTH_URL, "authelia/api/verify"),
        (AUTH_URL, "http://$upstream_addr/"),
        (AUTH_METHOD, "FETCH"),
        (AUTH_SIGNIN, "auth.example.com"),
        (AUTH_RESPONSE_HEADERS, "Remote User"),
        (AUTH_SNIPPET, "if ($uri ~ /public) { return 200; }"),
        (AUTH_SNIPPET, "proxy_set_header X-A $nonsense;"),
        (AUTH_SIGNIN_REDIRECT_PARAM, "a b"),
        (AUTH_ALWAYS_SET_COOKIE, "sometimes"),
    ] {
        let mut annotations = vec![(nginx(AUTH_URL), "http://auth.internal/verify")];
        annotations.retain(|(k, _)| *k != nginx(key));
        annotations.push((nginx(key), value));
        let pairs: Vec<(&str, &str)> = annotations.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let (got, w) = parse(&pairs);
        let reason = got
            .refuse
            .unwrap_or_else(|| panic!("{key}: {value:?} refuses"));
        assert!(
            reason.contains(key) && reason.contains("invalid"),
            "{reason}"
        );
        assert_eq!(w.len(), 1, "{key}: {w:?}");
        assert_eq!(w[0].kind, WarningKind::InvalidAnnotation);
    }

    // enable-global-auth: default true, "false" opts out, nonsense fails closed.
    assert!(parse(&[]).0.global_auth);
    assert!(
        !parse(&[(&nginx(ENABLE_GLOBAL_AUTH), "false")])
            .0
            .global_auth
    );
    let (got, _) = parse(&[(&nginx(ENABLE_GLOBAL_AUTH), "nope")]);
    assert!(got.refuse.is_some());
}

#[test]
fn proxy_ssl_secret_values() {
    let request = |key: String, ns: &str, name: &str| ProxySslRequest {
        secret_key: key,
        namespace: ns.to_string(),
        name: name.to_string(),
    };
    /// (annotations, request, refusal reason part)
    type SslCase = (
        Vec<(String, &'static str)>,
        Option<ProxySslRequest>,
        Option<&'static str>,
    );
    let cases: Vec<SslCase> = vec![
        (vec![], None, None),
        (
            vec![(nginx(PROXY_SSL_SECRET), "certs/backend-tls")],
            Some(request(nginx(PROXY_SSL_SECRET), "certs", "backend-tls")),
            None,
        ),
        (
            vec![(own(PROXY_SSL_SECRET), " ns/mtls ")],
            Some(request(own(PROXY_SSL_SECRET), "ns", "mtls")),
            None,
        ),
        // gatehouse's prefix wins when both are set.
        (
            vec![
                (own(PROXY_SSL_SECRET), "ns/own"),
                (nginx(PROXY_SSL_SECRET), "ns/nginx"),
            ],
            Some(request(own(PROXY_SSL_SECRET), "ns", "own")),
            None,
        ),
        // Not NAMESPACE/NAME: refused, never served without the TLS settings asked for.
        (
            vec![(nginx(PROXY_SSL_SECRET), "backend-tls")],
            None,
            Some("proxy-ssl-secret (invalid value)"),
        ),
        (
            vec![(nginx(PROXY_SSL_SECRET), "ns/Bad_Name")],
            None,
            Some("proxy-ssl-secret (invalid value)"),
        ),
        (
            vec![(nginx(PROXY_SSL_SECRET), "")],
            None,
            Some("proxy-ssl-secret (invalid value)"),
        ),
    ];
    for (annotations, want, refusal) in cases {
        let pairs: Vec<(&str, &str)> = annotations.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let (got, warnings) = parse(&pairs);
        assert_eq!(got.proxy_ssl_secret, want, "{annotations:?}");
        assert_eq!(got.upstream_tls, UpstreamTls::default(), "{annotations:?}");
        match refusal {
            None => assert_eq!(got.refuse, None, "{annotations:?}"),
            Some(part) => {
                let reason = got.refuse.as_deref().unwrap_or_default();
                assert!(reason.contains(part), "{annotations:?}: {reason}");
                assert_eq!(warnings.len(), 1, "{annotations:?}: {warnings:?}");
            }
        }
    }
}
