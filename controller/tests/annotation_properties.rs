//! Property tests of the annotation parsers: whatever a user (or an attacker with write access
//! to one namespace) puts in an annotation, parsing never panics, and a value that parses
//! always parses the same way. Bounded so CI stays fast.

use std::collections::BTreeMap;
use std::time::Duration;

use gatehouse_controller::translate::annotations::values::{
    parse_bool, parse_duration, parse_source_ranges,
};
use gatehouse_controller::translate::annotations::{
    IngressAnnotations, UnsupportedAnnotations, GATEHOUSE_PREFIX, NGINX_PREFIX,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

/// Values that look like what the parsers expect, with noise around them.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,25}(ms|s|m|h|d)?",
        "[ ,0-9./:a-fA-F]{0,60}",
        "(true|false|True|FALSE|1|0|yes|t|f)",
    ]
}

/// Annotation keys under both prefixes, gatehouse's own keys and unknown ones.
fn key() -> impl Strategy<Value = String> {
    let names = prop_oneof![
        Just("ssl-redirect".to_string()),
        Just("force-ssl-redirect".to_string()),
        Just("proxy-connect-timeout".to_string()),
        Just("whitelist-source-range".to_string()),
        Just("allowlist-source-range".to_string()),
        Just("denylist-source-range".to_string()),
        Just("auth-url".to_string()),
        Just("allow-encoded-slashes".to_string()),
        Just("acme".to_string()),
        "[a-z-]{1,20}",
    ];
    (
        prop_oneof![Just(NGINX_PREFIX), Just(GATEHOUSE_PREFIX)],
        names,
    )
        .prop_map(|(prefix, name)| format!("{prefix}{name}"))
}

fn ingress(annotations: BTreeMap<String, String>) -> Ingress {
    Ingress {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some("app".into()),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        ..Ingress::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn value_parsers_never_panic_and_are_deterministic(v in value()) {
        prop_assert_eq!(parse_bool(&v), parse_bool(&v));
        let max = Duration::from_secs(3600);
        let d = parse_duration(&v, max);
        if let Ok(d) = &d {
            prop_assert!(!d.is_zero() && *d <= max);
        }
        prop_assert_eq!(d, parse_duration(&v, max));
        prop_assert_eq!(
            parse_source_ranges(&v).is_ok(),
            parse_source_ranges(&v).is_ok()
        );
    }

    #[test]
    fn ingress_annotations_never_panic(pairs in proptest::collection::btree_map(key(), value(), 0..8)) {
        for mode in [UnsupportedAnnotations::FailClosed, UnsupportedAnnotations::Ignore] {
            let ing = ingress(pairs.clone());
            let (first, warnings) = IngressAnnotations::parse(&ing, mode);
            let (again, _) = IngressAnnotations::parse(&ing, mode);
            prop_assert_eq!(&first, &again);
            for w in &warnings {
                prop_assert_eq!(w.object.to_string(), "Ingress ns/app");
            }
        }
    }
}
