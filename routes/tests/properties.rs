//! Property tests of what every request passes through: the path and host normalisers and the
//! table lookup must never panic, whatever a client sends, and the normal forms must be fixed
//! points (normalising twice equals once), or the same route could be spelled two ways.

use std::sync::Arc;

use gatehouse_routes::{
    normalize_host, normalize_path, Backend, EndpointSet, HostBuf, IngressRef, PathType,
    RoutePolicy, RouteTable, RouteTableBuilder, RouteTarget,
};
use proptest::prelude::*;

/// Enough cases to find the edge cases below in every run while keeping CI fast.
const CASES: u32 = 512;

/// Paths built from the pieces that matter to the normaliser, so most cases hit its branches
/// rather than being refused at the first byte.
fn path_like() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "%41", "%7e", "%25", "%c3%a9",
        "%00", "%zz", "%", "%4", "\\", "a", "Z", "~", "é", "?",
    ];
    proptest::collection::vec(proptest::sample::select(PIECES), 0..16)
        .prop_map(|pieces| format!("/{}", pieces.concat()))
}

/// Any string, and strings shaped like paths.
fn any_path() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), path_like()]
}

/// Host headers built from the pieces the host normaliser looks at.
fn host_like() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &["foo", "FOO", ".", ":", "80", "[", "]", "::1", "*", "é"];
    proptest::collection::vec(proptest::sample::select(PIECES), 0..10)
        .prop_map(|pieces| pieces.concat())
}

fn any_host() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), host_like(), "[A-Za-z0-9.:-]{250,270}"]
}

fn target(name: &str, host: &str, path: &str, path_type: PathType) -> Arc<RouteTarget> {
    Arc::new(RouteTarget {
        ingress: IngressRef::new("ns", name),
        rule_host: host.into(),
        rule_path: path.into(),
        path_type,
        backend: Arc::new(Backend::new("ns", name, "80", EndpointSet::default(), 0)),
        policy: Arc::new(RoutePolicy::default()),
        observed: Default::default(),
    })
}

/// A table with every kind of host entry and path rule.
fn table() -> RouteTable {
    let mut b = RouteTableBuilder::new();
    let rows = [
        ("exact", "foo.com", "/", PathType::Prefix),
        ("admin", "foo.com", "/admin", PathType::Exact),
        ("api", "foo.com", "/api/", PathType::Prefix),
        ("wild", "*.foo.com", "/a/b", PathType::Prefix),
        ("any", "", "/", PathType::Prefix),
    ];
    for (name, host, path, ty) in rows {
        assert!(b.add(host, target(name, host, path, ty)).is_ok(), "{name}");
    }
    assert!(b
        .set_default(target("default", "", "", PathType::Prefix))
        .is_ok());
    b.build()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn normal_paths_are_fixed_points(path in any_path()) {
        let Ok(normal) = normalize_path(&path) else {
            return Ok(());
        };
        let out = normal.path.as_ref();
        prop_assert!(out.starts_with('/'), "{path:?} -> {out:?}");
        prop_assert!(!out.contains("//"), "{path:?} -> {out:?}");
        let segments: Vec<&str> = out.split('/').skip(1).collect();
        for segment in &segments {
            prop_assert!(*segment != "." && *segment != "..", "{path:?} -> {out:?}");
        }
        let again = normalize_path(out);
        prop_assert_eq!(
            again.as_ref().map(|n| n.path.as_ref()),
            Ok(out),
            "normalising twice differs from once for {:?}",
            path
        );
        prop_assert!(
            again.is_ok_and(|n| matches!(n.path, std::borrow::Cow::Borrowed(_))),
            "a normal path is recognised without allocating: {:?}",
            out
        );
    }

    #[test]
    fn hosts_normalise_once(host in any_host()) {
        let mut buf = HostBuf::new();
        let once = normalize_host(&host, &mut buf).to_string();
        let mut buf = HostBuf::new();
        let twice = normalize_host(&once, &mut buf);
        prop_assert_eq!(twice, once.as_str(), "for {:?}", host);
    }

    #[test]
    fn lookup_never_panics(host in any_host(), path in any_path()) {
        let table = table();
        let found = table.find(&host, &path);
        prop_assert!(found.target.is_some(), "the default backend catches everything");
    }
}
