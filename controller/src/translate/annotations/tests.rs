//! Table tests: annotations in, typed values and warnings out.

use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;
use serde_json::json;

use super::*;

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
        // gatehouse's own key: ingress-nginx's prefix does not turn it on.
        (
            vec![(nginx("allow-encoded-slashes"), "true")],
            default.clone(),
            0,
        ),
        // Keys gatehouse does not read change nothing here.
        (vec![(nginx("rewrite-target"), "/")], default.clone(), 0),
    ];
    for (annotations, want, n_warnings) in cases {
        let pairs: Vec<(&str, &str)> = annotations.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let (got, warnings) = IngressAnnotations::parse(&ingress(&pairs));
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
    let (_, warnings) = IngressAnnotations::parse(&ingress(&[(&key, "soon")]));
    let message = &warnings[0].message;
    assert!(message.contains(&key), "{message}");
    assert!(message.contains("500ms"), "{message}");
}

#[test]
fn route_policy_carries_the_parsed_values() {
    let (parsed, _) = IngressAnnotations::parse(&ingress(&[
        (&nginx(PROXY_CONNECT_TIMEOUT), "3"),
        (ALLOW_ENCODED_SLASHES, "true"),
    ]));
    let policy = parsed.route_policy(true);
    assert!(policy.redirect_https);
    assert_eq!(policy.connect_timeout, Some(Duration::from_secs(3)));
    assert!(policy.allow_encoded_slashes);
    assert_eq!(
        IngressAnnotations::default().route_policy(false),
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
