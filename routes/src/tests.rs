//! Table-style tests of host and path matching.

use std::sync::Arc;

use crate::*;

fn target(ingress: &str, host: &str, path: &str, path_type: PathType) -> Arc<RouteTarget> {
    Arc::new(RouteTarget {
        ingress: IngressRef::new("ns", ingress),
        rule_host: host.into(),
        rule_path: path.into(),
        path_type,
        backend: Arc::new(Backend::new("ns", ingress, "80", EndpointSet::default(), 0)),
        policy: Arc::new(RoutePolicy::default()),
        observed: Default::default(),
    })
}

/// Builds a table from (ingress, host, path, type) rows; the ingress name doubles as the label
/// the lookups below expect.
fn table(rows: &[(&str, &str, &str, PathType)], default: Option<&str>) -> RouteTable {
    let mut b = RouteTableBuilder::new();
    for (name, host, path, ty) in rows {
        b.add(host, target(name, host, path, *ty))
            .expect("no conflicts in fixtures");
    }
    if let Some(name) = default {
        b.set_default(target(name, "", "", PathType::Prefix))
            .expect("one default");
    }
    b.build()
}

fn hit(t: &RouteTable, host: &str, path: &str) -> Option<String> {
    t.lookup(host, path).map(|r| r.ingress.name.to_string())
}

use PathType::{Exact, Prefix};

#[test]
fn hosts() {
    let t = table(
        &[
            ("exact", "foo.com", "/", Prefix),
            ("wild", "*.foo.com", "/", Prefix),
            ("bar", "bar.foo.com", "/", Prefix),
        ],
        None,
    );
    let cases = [
        ("foo.com", Some("exact")),
        ("FOO.com", Some("exact")),
        ("foo.com:8080", Some("exact")),
        ("foo.com.", Some("exact")),
        ("x.foo.com", Some("wild")),
        ("X.Foo.Com:443", Some("wild")),
        ("bar.foo.com", Some("bar")), // exact beats wildcard
        ("baz.bar.foo.com", None),    // wildcard covers one label only
        ("foo.org", None),
        ("", None),
    ];
    for (host, want) in cases {
        assert_eq!(hit(&t, host, "/"), want.map(String::from), "host {host:?}");
    }
}

#[test]
fn paths() {
    let t = table(
        &[
            ("root", "h", "/", Prefix),
            ("foo", "h", "/foo", Prefix),
            ("foobar-exact", "h", "/foo/bar", Exact),
            ("foo-exact", "h", "/foo", Exact),
            ("deep", "h", "/a/b/", Prefix),
            ("case", "h", "/Case", Exact),
        ],
        None,
    );
    let cases = [
        ("/", "root"),
        ("/foo", "foo-exact"), // Exact beats Prefix on the same path
        ("/foo/", "foo"),      // Exact /foo does not match /foo/
        ("/foo/baz", "foo"),
        ("/foobar", "root"), // prefix is segment-wise
        ("/foo/bar", "foobar-exact"),
        ("/foo/bar/", "foo"),
        ("/a/b", "deep"), // rule's trailing slash ignored
        ("/a/b/c", "deep"),
        ("/a/bc", "root"),
        ("/Case", "case"),
        ("/case", "root"), // Exact is case-sensitive
    ];
    for (path, want) in cases {
        assert_eq!(hit(&t, "h", path).as_deref(), Some(want), "path {path:?}");
    }
}

#[test]
fn longest_prefix_wins() {
    let t = table(
        &[
            ("short", "h", "/a", Prefix),
            ("long", "h", "/a/b/c", Prefix),
            ("mid", "h", "/a/b", Prefix),
        ],
        None,
    );
    for (path, want) in [
        ("/a/b/c/d", Some("long")),
        ("/a/b/x", Some("mid")),
        ("/a/x", Some("short")),
        ("/b", None),
    ] {
        assert_eq!(hit(&t, "h", path).as_deref(), want, "path {path:?}");
    }
}

#[test]
fn default_backend_and_hostless_rules() {
    let t = table(
        &[
            ("any", "", "/any", Prefix),
            ("named", "n.com", "/x", Prefix),
        ],
        Some("default"),
    );
    for (host, path, want) in [
        ("other.com", "/any/1", "any"),
        ("other.com", "/nope", "default"),
        ("n.com", "/x", "named"),
        ("n.com", "/any", "default"), // a host with rules of its own does not fall to host-less rules
    ] {
        assert_eq!(hit(&t, host, path).as_deref(), Some(want), "{host}{path}");
    }
}

#[test]
fn first_route_keeps_its_slot() {
    let mut b = RouteTableBuilder::new();
    b.add("h", target("old", "h", "/p", Prefix)).expect("first");
    let conflict = b
        .add("H", target("new", "H", "/p/", Prefix))
        .expect_err("same host, path and type");
    assert_eq!(&*conflict.winner.ingress.name, "old");
    assert_eq!(&*conflict.loser.ingress.name, "new");
    // A different type on the same path is no conflict.
    b.add("h", target("exact", "h", "/p", Exact))
        .expect("exact and prefix coexist");
    b.set_default(target("d1", "", "", Prefix))
        .expect("first default");
    assert!(b.set_default(target("d2", "", "", Prefix)).is_err());
}

#[test]
fn host_policy_applies_when_no_rule_of_the_host_matched() {
    let mut b = RouteTableBuilder::new();
    b.add("s.example", target("secure", "s.example", "/app", Prefix))
        .expect("add");
    b.add("*.w.example", target("wild", "*.w.example", "/", Prefix))
        .expect("add");
    b.add(
        "plain.example",
        target("plain", "plain.example", "/", Prefix),
    )
    .expect("add");
    for host in ["S.example.", "*.W.example"] {
        b.host_policy(host).expect("host has routes").redirect_https = true;
    }
    assert!(
        b.host_policy("nothing.example").is_none(),
        "no entry is made for a host without routes"
    );
    b.set_default(target("default", "", "", Prefix))
        .expect("default");
    let t = b.build();
    // (host, path, host policy redirects, fallback, route)
    let cases = [
        ("s.example", "/app", true, false, "secure"),
        ("S.Example:80", "/other", true, true, "default"),
        ("a.w.example", "/", true, false, "wild"),
        ("w.example", "/", false, true, "default"),
        ("plain.example", "/", false, false, "plain"),
        ("other.example", "/", false, true, "default"),
    ];
    for (host, path, redirects, fallback, route) in cases {
        let m = t.find(host, path);
        assert_eq!(m.host.redirect_https, redirects, "{host}{path}");
        assert_eq!(m.fallback, fallback, "{host}{path}");
        assert_eq!(
            m.target.map(|t| &*t.ingress.name),
            Some(route),
            "{host}{path}"
        );
    }
    assert_eq!(
        t.host_policy("*.w.example").map(|p| p.redirect_https),
        Some(true)
    );
}

#[test]
fn an_empty_first_label_matches_no_wildcard() {
    let t = table(
        &[("wild", "*.foo.com", "/", Prefix), ("any", "", "/", Prefix)],
        None,
    );
    assert_eq!(hit(&t, "x.foo.com", "/").as_deref(), Some("wild"));
    assert_eq!(hit(&t, ".foo.com", "/").as_deref(), Some("any"));
    assert_eq!(hit(&t, "foo.com", "/").as_deref(), Some("any"));
}

#[test]
fn the_table_counts_backend_slots() {
    let mut b = RouteTableBuilder::new();
    assert_eq!(RouteTableBuilder::new().build().backend_slots(), 0);
    let mut t = target("a", "h", "/", Prefix);
    Arc::get_mut(&mut t).expect("unique").backend =
        Arc::new(Backend::new("ns", "a", "80", EndpointSet::default(), 4));
    b.add("h", t).expect("add");
    b.set_default(target("d", "", "", Prefix)).expect("default");
    assert_eq!(b.build().backend_slots(), 5);
}
