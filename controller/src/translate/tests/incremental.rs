//! Property: after every step of a random sequence of changes, the incremental translator's
//! output equals a full `translate()` of the same snapshot. The object domain is small (few
//! names, hosts, paths) so that rules conflict, hosts are shared and objects come and go.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use gatehouse_testkit::tlsgen::{self, LeafSpec};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::snapshot::{EndpointSliceInfo, ServiceInfo};

use super::*;

const HOSTS: [&str; 5] = ["a.test", "B.test", "x.a.test", "*.a.test", ""];
const PATHS: [&str; 3] = ["/", "/x", "/x/y"];
const SERVICES: usize = 3;
const INGRESSES: usize = 6;

/// One path of a generated Ingress: indexes into the small domains.
#[derive(Clone, Debug)]
struct PathGen {
    host: usize,
    path: usize,
    exact: bool,
    service: usize,
    port: usize,
}

#[derive(Clone, Debug)]
struct IngressGen {
    class: usize,
    created: u8,
    paths: Vec<PathGen>,
    default_backend: Option<usize>,
    /// `(hosts, secret)`: TLS hosts (indexes; empty for "all of the rules' hosts") and Secret.
    tls: Vec<(Vec<usize>, usize)>,
    annotations: usize,
}

#[derive(Clone, Debug)]
enum ServiceGen {
    Ports(usize),
    ExternalName,
    Headless,
}

#[derive(Clone, Debug)]
enum Change {
    Ingress(usize, Option<IngressGen>),
    Service(usize, Option<ServiceGen>),
    /// Slice `1` of service `0`: endpoints `(last octet, ready)`.
    Slice(usize, usize, Option<Vec<(u8, bool)>>),
    /// A Secret: 0 valid for a.test hosts, 1 valid for B.test, 2 not a certificate.
    Secret(usize, Option<usize>),
    /// IngressClass: which controller, whether it is the cluster default.
    Class(usize, Option<(bool, bool)>),
    /// The same object again as a new `Arc` (equal value, new identity).
    Touch(usize),
    /// Flip the HTTPS listener of class `internal`.
    Https,
}

fn path_gen() -> impl Strategy<Value = PathGen> {
    (
        0..HOSTS.len(),
        0..PATHS.len(),
        any::<bool>(),
        0..SERVICES + 1,
        0..4usize,
    )
        .prop_map(|(host, path, exact, service, port)| PathGen {
            host,
            path,
            exact,
            service,
            port,
        })
}

fn ingress_gen() -> impl Strategy<Value = IngressGen> {
    (
        0..5usize,
        0..3u8,
        proptest::collection::vec(path_gen(), 0..4),
        proptest::option::weighted(0.2, 0..SERVICES),
        proptest::collection::vec(
            (
                proptest::collection::vec(0..HOSTS.len() - 1, 0..2),
                0..3usize,
            ),
            0..2,
        ),
        0..5usize,
    )
        .prop_map(
            |(class, created, paths, default_backend, tls, annotations)| IngressGen {
                class,
                created,
                paths,
                default_backend,
                tls,
                annotations,
            },
        )
}

fn change() -> impl Strategy<Value = Change> {
    let service = prop_oneof![
        (0..3usize).prop_map(ServiceGen::Ports),
        Just(ServiceGen::ExternalName),
        Just(ServiceGen::Headless),
    ];
    prop_oneof![
        5 => (0..INGRESSES, proptest::option::weighted(0.8, ingress_gen()))
            .prop_map(|(i, g)| Change::Ingress(i, g)),
        2 => (0..SERVICES, proptest::option::weighted(0.8, service))
            .prop_map(|(i, g)| Change::Service(i, g)),
        2 => (
            0..SERVICES,
            0..2usize,
            proptest::option::weighted(0.8, proptest::collection::vec((1..4u8, any::<bool>()), 0..3)),
        )
            .prop_map(|(s, n, g)| Change::Slice(s, n, g)),
        1 => (0..2usize, proptest::option::weighted(0.8, 0..3usize))
            .prop_map(|(i, g)| Change::Secret(i, g)),
        1 => (0..2usize, proptest::option::weighted(0.8, (any::<bool>(), any::<bool>())))
            .prop_map(|(i, g)| Change::Class(i, g)),
        2 => (0..INGRESSES + SERVICES).prop_map(Change::Touch),
        1 => Just(Change::Https),
    ]
}

/// The cluster as the test changes it, by kind and name.
#[derive(Default)]
struct Cluster {
    ingresses: BTreeMap<String, Arc<Ingress>>,
    services: BTreeMap<String, Arc<ServiceInfo>>,
    slices: BTreeMap<String, Arc<EndpointSliceInfo>>,
    secrets: BTreeMap<String, Arc<Secret>>,
    classes: BTreeMap<String, Arc<IngressClass>>,
}

fn parsed<T: serde::de::DeserializeOwned>(v: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).expect("generated object"))
}

/// What the sources keep of a generated Service.
fn service_info(v: Value) -> Arc<ServiceInfo> {
    Arc::new(ServiceInfo::from_api(&parsed::<Service>(v)))
}

/// What the sources keep of a generated EndpointSlice.
fn slice_info(v: Value) -> Arc<EndpointSliceInfo> {
    Arc::new(EndpointSliceInfo::from_api(&parsed::<EndpointSlice>(v)))
}

/// Certificates are slow to make: one per host set for the whole run.
fn cert_pem(which: usize) -> &'static (String, String) {
    static CERTS: OnceLock<[(String, String); 2]> = OnceLock::new();
    let certs = CERTS.get_or_init(|| {
        let make = |hosts: &[&str]| {
            let leaf = tlsgen::self_signed(&LeafSpec::new(hosts)).expect("test certificate");
            (leaf.chain_pem, leaf.key_pem)
        };
        [make(&["a.test", "*.a.test"]), make(&["b.test"])]
    });
    &certs[which.min(1)]
}

fn ingress_object(name: &str, g: &IngressGen) -> Value {
    let backend = |service: usize, port: usize| {
        let port = match port {
            0 => json!({"number": 80}),
            1 => json!({"number": 81}),
            2 => json!({"name": "http"}),
            _ => json!({"name": "grpc"}),
        };
        json!({"service": {"name": format!("s{service}"), "port": port}})
    };
    let rules: Vec<Value> = g
        .paths
        .iter()
        .map(|p| {
            let mut r = json!({"http": {"paths": [{
                "path": PATHS[p.path],
                "pathType": if p.exact { "Exact" } else { "Prefix" },
                "backend": backend(p.service, p.port),
            }]}});
            if !HOSTS[p.host].is_empty() {
                r["host"] = json!(HOSTS[p.host]);
            }
            r
        })
        .collect();
    let mut spec = json!({"rules": rules});
    // 0: none (default class), 1, 2: ours, 3: another controller's, 4: no such class.
    if let Some(class) = [
        None,
        Some("internal"),
        Some("external"),
        Some("foreign"),
        Some("gone"),
    ][g.class]
    {
        spec["ingressClassName"] = json!(class);
    }
    if let Some(s) = g.default_backend {
        spec["defaultBackend"] = backend(s, 2);
    }
    if !g.tls.is_empty() {
        let tls: Vec<Value> = g
            .tls
            .iter()
            .map(|(hosts, secret)| {
                let hosts: Vec<&str> = hosts.iter().map(|h| HOSTS[*h]).collect();
                json!({"hosts": hosts, "secretName": format!("t{secret}")})
            })
            .collect();
        spec["tls"] = json!(tls);
    }
    let annotations = match g.annotations {
        1 => json!({"nginx.ingress.kubernetes.io/ssl-redirect": "false"}),
        2 => json!({"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}),
        3 => json!({"nginx.ingress.kubernetes.io/service-upstream": "true"}),
        4 => json!({"nginx.ingress.kubernetes.io/auth-type": "basic",
                    "nginx.ingress.kubernetes.io/auth-secret": "t0"}),
        _ => json!({}),
    };
    json!({"metadata": {"namespace": "ns", "name": name, "annotations": annotations,
            "creationTimestamp": format!("2024-01-01T00:00:0{}Z", g.created)},
        "spec": spec})
}

fn service_object(name: &str, g: &ServiceGen) -> Value {
    let spec = match g {
        ServiceGen::Ports(0) => {
            json!({"clusterIP": "10.0.0.1", "ports": [{"name": "http", "port": 80}]})
        }
        ServiceGen::Ports(1) => json!({"clusterIP": "10.0.0.2", "ports": [
            {"name": "http", "port": 80}, {"name": "grpc", "port": 81}]}),
        ServiceGen::Ports(_) => {
            json!({"clusterIP": "10.0.0.3", "ports": [{"name": "grpc", "port": 80}]})
        }
        ServiceGen::ExternalName => json!({"type": "ExternalName", "externalName": "ext.example",
            "ports": [{"name": "http", "port": 80}]}),
        ServiceGen::Headless => {
            json!({"clusterIP": "None", "ports": [{"name": "http", "port": 80}]})
        }
    };
    json!({"metadata": {"namespace": "ns", "name": name}, "spec": spec})
}

impl Cluster {
    fn apply(&mut self, change: &Change, config: &mut TranslateConfig) {
        match change {
            Change::Ingress(i, g) => {
                let name = format!("i{i}");
                match g {
                    Some(g) => {
                        self.ingresses
                            .insert(name.clone(), parsed(ingress_object(&name, g)));
                    }
                    None => {
                        self.ingresses.remove(&name);
                    }
                }
            }
            Change::Service(i, g) => {
                let name = format!("s{i}");
                match g {
                    Some(g) => {
                        self.services
                            .insert(name.clone(), service_info(service_object(&name, g)));
                    }
                    None => {
                        self.services.remove(&name);
                    }
                }
            }
            Change::Slice(s, n, g) => {
                let name = format!("s{s}-{n}");
                match g {
                    Some(eps) => {
                        let endpoints: Vec<Value> = eps
                            .iter()
                            .map(|(ip, ready)| {
                                json!({"addresses": [format!("10.1.{s}.{ip}")],
                                "conditions": {"ready": ready}})
                            })
                            .collect();
                        // Port named like the Service ports: "http" or "grpc" by slice number.
                        let port = if *n == 0 { "http" } else { "grpc" };
                        self.slices.insert(
                            name.clone(),
                            slice_info(json!({"metadata": {"namespace": "ns", "name": name,
                                "labels": {"kubernetes.io/service-name": format!("s{s}")}},
                                "addressType": "IPv4", "ports": [{"name": port, "port": 8080}],
                                "endpoints": endpoints})),
                        );
                    }
                    None => {
                        self.slices.remove(&name);
                    }
                }
            }
            Change::Secret(i, g) => {
                let name = format!("t{i}");
                match g {
                    Some(2) => {
                        self.secrets.insert(
                            name.clone(),
                            parsed(json!({"metadata": {"namespace": "ns", "name": name},
                                "type": "kubernetes.io/tls",
                                "stringData": {"tls.crt": "not pem", "tls.key": "nope"}})),
                        );
                    }
                    Some(which) => {
                        let (crt, key) = cert_pem(*which);
                        self.secrets.insert(
                            name.clone(),
                            parsed(json!({"metadata": {"namespace": "ns", "name": name},
                                "type": "kubernetes.io/tls",
                                "stringData": {"tls.crt": crt, "tls.key": key}})),
                        );
                    }
                    None => {
                        self.secrets.remove(&name);
                    }
                }
            }
            Change::Class(i, g) => {
                let name = ["internal", "foreign"][*i].to_string();
                match g {
                    Some((ours, default)) => {
                        let controller = if *ours {
                            DEFAULT_CONTROLLER_NAME
                        } else {
                            "example.com/other"
                        };
                        self.classes.insert(
                            name.clone(),
                            parsed(json!({"metadata": {"name": name, "annotations": {
                                "ingressclass.kubernetes.io/is-default-class": default.to_string()}},
                                "spec": {"controller": controller}})),
                        );
                    }
                    None => {
                        self.classes.remove(&name);
                    }
                }
            }
            Change::Touch(i) => {
                fn again<T: Clone>(map: &mut BTreeMap<String, Arc<T>>, name: &str) {
                    if let Some(o) = map.get_mut(name) {
                        *o = Arc::new((**o).clone());
                    }
                }
                if *i < INGRESSES {
                    again(&mut self.ingresses, &format!("i{i}"));
                } else {
                    let s = i - INGRESSES;
                    again(&mut self.services, &format!("s{s}"));
                    again(&mut self.slices, &format!("s{s}-0"));
                }
            }
            Change::Https => {
                config.classes[0].has_https = !config.classes[0].has_https;
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let mut external_names = crate::snapshot::ResolvedNames::new();
        external_names.insert(
            "ext.example".to_string(),
            Ok(vec!["192.0.2.1".parse().expect("address")]),
        );
        Snapshot {
            ingress_classes: self.classes.values().cloned().collect(),
            ingresses: self.ingresses.values().cloned().collect(),
            services: self.services.values().cloned().collect(),
            endpoint_slices: self.slices.values().cloned().collect(),
            secrets: self.secrets.values().cloned().collect(),
            external_names,
        }
    }
}

/// Everything a translation says, in a form two translations can be compared by. Backend slots
/// are numbered in order of first appearance: a patch keeps every backend's slot where a full
/// translation numbers them afresh, so only which routes share a slot is compared (and that
/// every slot fits the table's `backend_slots`).
fn canonical(t: &Translation) -> String {
    let mut s = String::new();
    let mut slots: BTreeMap<usize, usize> = BTreeMap::new();
    let mut target = |s: &mut String, t: &gatehouse_routes::RouteTarget, limit: usize| {
        let next = slots.len();
        let slot = *slots.entry(t.backend.slot()).or_insert(next);
        let _ = writeln!(
            s,
            "  {} {:?} {:?} {:?} backend {:?} slot {} fits {} {:?} {:?} policy {:?}",
            t.ingress,
            t.rule_host,
            t.rule_path,
            t.path_type,
            (&t.backend.namespace, &t.backend.service, &t.backend.port),
            slot,
            t.backend.slot() < limit,
            t.backend.endpoints(),
            t.backend.external_name(),
            t.policy,
        );
    };
    for (class, table) in &t.tables {
        let _ = writeln!(s, "table {class}: hosts {}", table.host_count());
        let limit = table.backend_slots();
        for (host, route) in table.routes() {
            let _ = writeln!(s, " {host} host policy {:?}", table.host_policy(&host));
            target(&mut s, &route, limit);
        }
        if let Some(d) = table.default_backend() {
            s.push_str(" default\n");
            target(&mut s, d, limit);
        }
    }
    for (class, certs) in &t.certs {
        let _ = writeln!(s, "certs {class}: {:?}", certs.infos());
    }
    let _ = writeln!(s, "warnings {:#?}", t.warnings);
    let _ = writeln!(s, "members {:?}", t.members);
    let _ = writeln!(s, "owners {:?}", t.host_owners);
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn incremental_translation_equals_full_translation(
        // Changes arrive in batches, as the sources coalesce them: a batch that needs a full
        // translation (a Secret, a class) can carry Service changes the full one must not
        // take from the previous translation's backends.
        batches in proptest::collection::vec(proptest::collection::vec(change(), 1..4), 1..30)
    ) {
        let mut cluster = Cluster::default();
        let mut config = two_classes();
        let mut incremental = IncrementalTranslator::new();
        let mut routed_before = std::collections::BTreeSet::new();
        for (step, change) in batches.iter().enumerate() {
            for one in change {
                cluster.apply(one, &mut config);
            }
            let snapshot = Arc::new(cluster.snapshot());
            let full = canonical(&translate(&snapshot, &config));
            let patched = incremental.translate(&snapshot, &config);
            // The backends kept up to date for the metrics are those the tables route to.
            let routed: std::collections::BTreeSet<usize> = patched
                .tables
                .values()
                .flat_map(|t| {
                    let groups = t.host_groups().flat_map(|(_, g)| g.targets());
                    groups.chain(t.default_backend()).map(|r| Arc::as_ptr(&r.backend) as usize)
                })
                .collect();
            prop_assert_eq!(&incremental.backends_in_use(), &routed, "step {}", step);
            if routed != routed_before {
                prop_assert!(incremental.backends_if_changed().is_some(), "step {}", step);
            }
            routed_before = routed;
            prop_assert_eq!(canonical(&patched), full, "step {} ({:?})", step, change);
        }
    }
}

/// The incremental path really reuses: an unchanged Ingress keeps its route targets (same
/// `Arc`), and a changed backend is rebuilt.
#[test]
fn unchanged_routes_are_reused() {
    let mut cluster = Cluster::default();
    let mut config = two_classes();
    let path = |host| PathGen {
        host,
        path: 0,
        exact: false,
        service: 0,
        port: 2,
    };
    for (i, host) in [(0, 0), (1, 1)] {
        let g = IngressGen {
            class: 1,
            created: i as u8,
            paths: vec![path(host)],
            default_backend: None,
            tls: Vec::new(),
            annotations: 0,
        };
        cluster.apply(&Change::Ingress(i, Some(g)), &mut config);
    }
    cluster.apply(&Change::Service(0, Some(ServiceGen::Ports(0))), &mut config);
    let mut incremental = IncrementalTranslator::new();
    let first = incremental.translate(&Arc::new(cluster.snapshot()), &config);
    let before = first.tables["internal"].lookup("b.test", "/").cloned();
    cluster.apply(&Change::Touch(0), &mut config);
    let second = incremental.translate(&Arc::new(cluster.snapshot()), &config);
    let after = second.tables["internal"].lookup("b.test", "/").cloned();
    let (Some(before), Some(after)) = (before, after) else {
        panic!("b.test routed")
    };
    assert!(Arc::ptr_eq(&before, &after), "untouched Ingress reused");
    let touched_before = first.tables["internal"].lookup("a.test", "/").cloned();
    let touched_after = second.tables["internal"].lookup("a.test", "/").cloned();
    let (Some(tb), Some(ta)) = (touched_before, touched_after) else {
        panic!("a.test routed")
    };
    assert!(!Arc::ptr_eq(&tb, &ta), "touched Ingress rebuilt");
    assert!(
        Arc::ptr_eq(&tb.backend, &ta.backend),
        "its unchanged backend reused"
    );
}

/// Changes to Ingresses (also with TLS), Services and EndpointSlices are patched in; what
/// reaches across a class (a default backend, Secrets, IngressClasses, the config) translates
/// in full.
#[test]
fn local_changes_are_patched_and_class_wide_ones_are_not() {
    let mut cluster = Cluster::default();
    let mut config = two_classes();
    let plain = |host, service| IngressGen {
        class: 1,
        created: 0,
        paths: vec![PathGen {
            host,
            path: 0,
            exact: false,
            service,
            port: 2,
        }],
        default_backend: None,
        tls: Vec::new(),
        annotations: 0,
    };
    let mut incremental = IncrementalTranslator::new();
    let steps: Vec<(Change, bool)> = vec![
        (Change::Ingress(0, Some(plain(0, 0))), false), // the first translation is full
        (Change::Ingress(1, Some(plain(1, 1))), true),
        (Change::Ingress(1, Some(plain(3, 1))), true),
        (Change::Service(0, Some(ServiceGen::Ports(0))), true),
        (Change::Slice(0, 0, Some(vec![(1, true)])), true),
        (Change::Touch(0), true),
        (Change::Ingress(1, None), true),
        (
            Change::Ingress(
                2,
                Some(IngressGen {
                    tls: vec![(Vec::new(), 0)],
                    ..plain(0, 0)
                }),
            ),
            true,
        ),
        (Change::Ingress(2, Some(plain(0, 0))), true),
        (
            Change::Ingress(
                3,
                Some(IngressGen {
                    default_backend: Some(1),
                    ..plain(1, 1)
                }),
            ),
            false,
        ),
        (Change::Secret(0, Some(0)), false),
        (Change::Class(0, Some((true, false))), false),
        (Change::Https, false),
        (Change::Ingress(4, Some(plain(1, 2))), true),
    ];
    for (step, (change, patched)) in steps.iter().enumerate() {
        cluster.apply(change, &mut config);
        let snapshot = Arc::new(cluster.snapshot());
        let cached = canonical(&incremental.translate(&snapshot, &config));
        assert_eq!(incremental.patched(), *patched, "step {step} {change:?}");
        assert_eq!(
            cached,
            canonical(&translate(&snapshot, &config)),
            "step {step}"
        );
    }
}

/// A patch that brings many Services at once (more than it looks up one by one) indexes them
/// and still equals a full translation: 100 Ingresses whose Services are missing, then 30 of
/// those Services with their EndpointSlices in one step.
#[test]
fn a_patch_bringing_many_services_equals_a_full_translation() {
    let ingress = |i: usize| -> Arc<Ingress> {
        parsed(
            json!({"metadata": {"namespace": "ns", "name": format!("m{i}")},
            "spec": {"rules": [{"host": format!("m{i}.test"), "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": format!("m{i}"), "port": {"number": 80}}}}]}}]}}),
        )
    };
    let service = |i: usize| -> Arc<ServiceInfo> {
        service_info(
            json!({"metadata": {"namespace": "ns", "name": format!("m{i}")},
            "spec": {"ports": [{"port": 80}]}}),
        )
    };
    let slice = |i: usize| -> Arc<EndpointSliceInfo> {
        slice_info(
            json!({"metadata": {"namespace": "ns", "name": format!("m{i}-1"),
            "labels": {"kubernetes.io/service-name": format!("m{i}")}},
            "addressType": "IPv4", "ports": [{"port": 8080}],
            "endpoints": [{"addresses": [format!("10.2.0.{i}")], "conditions": {"ready": true}}]}),
        )
    };
    let config = two_classes();
    let mut snapshot = Snapshot {
        ingresses: (0..100).map(ingress).collect(),
        ..Snapshot::default()
    };
    let mut incremental = IncrementalTranslator::new();
    incremental.translate(&Arc::new(snapshot.clone()), &config);
    snapshot.services = (0..30).map(service).collect();
    snapshot.endpoint_slices = (0..30).map(slice).collect();
    let snapshot = Arc::new(snapshot);
    let patched = canonical(&incremental.translate(&snapshot, &config));
    assert!(incremental.patched());
    assert_eq!(patched, canonical(&translate(&snapshot, &config)));
    let t = translate(&snapshot, &config);
    let served = t.tables["internal"].lookup("m29.test", "/");
    assert_eq!(served.map(|r| r.backend.endpoints().ready.len()), Some(1));
}
