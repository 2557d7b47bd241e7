use std::sync::Arc;

use serde_json::json;

use super::*;

#[test]
fn rules_paths_and_default_backend() {
    let mut objects = vec![
        service("ns", "s", &[("http", 80)]),
        ingress(
            "ns",
            "a",
            Some("internal"),
            &[
                ("a.example", "/", "Prefix", "s", json!(80)),
                ("a.example", "/exact", "Exact", "s", json!(80)),
                (
                    "*.wild.example",
                    "/",
                    "ImplementationSpecific",
                    "s",
                    json!(80),
                ),
            ],
        ),
    ];
    objects.push(obj(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"namespace": "ns", "name": "fallback"},
        "spec": {"ingressClassName": "internal",
                 "defaultBackend": {"service": {"name": "s", "port": {"name": "http"}}}}}),
    ));
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    for (host, path, want) in [
        ("a.example", "/x", "a"),
        ("a.example", "/exact", "a"),
        ("x.wild.example", "/y", "a"),
        ("y.x.wild.example", "/", "fallback"),
        ("nothing.example", "/", "fallback"),
    ] {
        assert_eq!(
            route(&t, "internal", host, path).as_deref(),
            Some(want),
            "{host}{path}"
        );
    }
    let exact = t.tables["internal"]
        .lookup("a.example", "/exact")
        .expect("route");
    assert_eq!(exact.path_type, gatehouse_routes::PathType::Exact);
}

#[test]
fn conflicts_go_to_the_oldest_ingress() {
    let mut newer = ingress(
        "ns",
        "aaa-newer",
        Some("internal"),
        &[("h.example", "/p", "Prefix", "s", json!(80))],
    );
    let mut older = ingress(
        "ns",
        "zzz-older",
        Some("internal"),
        &[("h.example", "/p/", "Prefix", "s", json!(80))],
    );
    for (o, ts) in [
        (&mut newer, "2026-02-01T00:00:00Z"),
        (&mut older, "2026-01-01T00:00:00Z"),
    ] {
        if let Object::Ingress(i) = o {
            Arc::make_mut(i).metadata.creation_timestamp =
                Some(serde_json::from_value(json!(ts)).expect("time"));
        }
    }
    let t = translate(
        &Snapshot::from_objects([service("ns", "s", &[("http", 80)]), newer, older]),
        &two_classes(),
    );
    assert_eq!(
        route(&t, "internal", "h.example", "/p").as_deref(),
        Some("zzz-older")
    );
    assert_eq!(
        warning_list(&t),
        vec![(
            WarningKind::RuleConflict,
            "Ingress ns/aaa-newer".to_string()
        )]
    );
}

#[test]
fn bad_rules_are_skipped_and_good_ones_kept() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        ingress(
            "ns",
            "bad",
            Some("internal"),
            &[
                ("bad_host!.example", "/", "Prefix", "s", json!(80)),
                ("a.*.example", "/", "Prefix", "s", json!(80)),
                ("ok.example", "relative", "Prefix", "s", json!(80)),
                ("ok.example", "/weird", "Regex", "s", json!(80)),
                ("ok.example", "/good", "Prefix", "s", json!(80)),
            ],
        ),
        ingress(
            "ns",
            "fine",
            Some("internal"),
            &[("fine.example", "/", "Prefix", "s", json!(80))],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    assert_eq!(
        route(&t, "internal", "ok.example", "/good").as_deref(),
        Some("bad")
    );
    assert_eq!(route(&t, "internal", "ok.example", "/weird"), None);
    assert_eq!(
        route(&t, "internal", "fine.example", "/").as_deref(),
        Some("fine")
    );
    let bad = "Ingress ns/bad".to_string();
    assert_eq!(
        warning_list(&t),
        vec![
            (WarningKind::InvalidHost, bad.clone()),
            (WarningKind::InvalidHost, bad.clone()),
            (WarningKind::InvalidPath, bad.clone()),
            (WarningKind::InvalidPath, bad),
        ]
    );
}

/// Each host is owned by the oldest Ingress with a route on it, also when a newer one in
/// another namespace adds paths of its own; a host whose only rule lost a conflict, and
/// host-less rules, are not owned by the loser.
#[test]
fn each_host_is_owned_by_the_oldest_ingress_routing_it() {
    let mut older = ingress(
        "site",
        "web",
        Some("internal"),
        &[
            ("shop.example", "/", "Prefix", "s", json!(80)),
            ("", "/", "Prefix", "s", json!(80)),
        ],
    );
    let mut newer = ingress(
        "other",
        "grab",
        Some("internal"),
        &[
            ("shop.example", "/grab", "Prefix", "s", json!(80)),
            ("own.example", "/", "Prefix", "s", json!(80)),
        ],
    );
    for (o, ts) in [
        (&mut older, "2026-01-01T00:00:00Z"),
        (&mut newer, "2026-02-01T00:00:00Z"),
    ] {
        if let Object::Ingress(i) = o {
            Arc::make_mut(i).metadata.creation_timestamp =
                Some(serde_json::from_value(json!(ts)).expect("time"));
        }
    }
    let t = translate(
        &Snapshot::from_objects([
            service("site", "s", &[("http", 80)]),
            service("other", "s", &[("http", 80)]),
            newer,
            older,
        ]),
        &two_classes(),
    );
    // The newer Ingress does win its own path on the contested host…
    assert_eq!(
        route(&t, "internal", "shop.example", "/grab").as_deref(),
        Some("grab")
    );
    // …but the host belongs to the oldest.
    let owners: Vec<(&str, String)> = t.host_owners["internal"]
        .iter()
        .map(|(h, r)| (h.as_str(), r.to_string()))
        .collect();
    assert_eq!(
        owners,
        vec![
            ("own.example", "other/grab".to_string()),
            ("shop.example", "site/web".to_string()),
        ]
    );
    assert!(t.host_owners["external"].is_empty());
}
